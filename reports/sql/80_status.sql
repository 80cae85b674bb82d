-- title: What was computed: images, variants and failures
SELECT 'images' AS what, dataset, status, count(*) AS n FROM images GROUP BY ALL
UNION ALL
SELECT 'variants', dataset, status, count(*) FROM variants GROUP BY ALL
UNION ALL
SELECT 'predictions', dataset, status, count(*) FROM predictions GROUP BY ALL
UNION ALL
SELECT 'metrics', dataset, status, count(*) FROM metrics GROUP BY ALL
ORDER BY what, dataset, status;
