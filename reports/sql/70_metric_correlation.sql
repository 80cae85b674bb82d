-- title: Which quality metric predicts the classifier's degradation (Spearman)
-- Spearman's rho (Pearson correlation of ranks, average ranks for ties) between each
-- metric and the rank difference, and with top-1 agreement, over all variants and per
-- encoder. For PSNR, SSIM and MS-SSIM higher means better quality, for LPIPS and dfd lower:
-- `predictive_power` is the correlation with rank_diff signed so that larger = better
-- predictor. Kendall's tau is in metric_kendall (computed with scipy, in report.py). *_lo / *_hi:
-- 95% bootstrap intervals over images (a variant is drawn with its image), on the figures' fixed
-- sample of variants (at most 20,000 of them).
-- sql: needs the view metric_values (40_thresholds.sql).
WITH scopes AS (
    SELECT *, 'all' AS scope FROM metric_values
    UNION ALL
    SELECT *, encoder AS scope FROM metric_values
),
ranked AS (
    SELECT dataset, model, scope, metric, value, higher_is_better,
           rank() OVER w + (count(*) OVER (PARTITION BY dataset, model, scope, metric, value) - 1) / 2.0 AS r_value,
           rank() OVER (PARTITION BY dataset, model, scope, metric ORDER BY rank_diff)
             + (count(*) OVER (PARTITION BY dataset, model, scope, metric, rank_diff) - 1) / 2.0 AS r_rank_diff,
           rank() OVER (PARTITION BY dataset, model, scope, metric ORDER BY agrees)
             + (count(*) OVER (PARTITION BY dataset, model, scope, metric, agrees) - 1) / 2.0 AS r_agrees
    FROM scopes
    WINDOW w AS (PARTITION BY dataset, model, scope, metric ORDER BY value)
)
SELECT dataset, model, scope, metric, count(*) AS variants,
       round(corr(r_value, r_rank_diff), 4) AS spearman_rank_diff,
       round(corr(r_value, r_agrees), 4) AS spearman_top1_agreement,
       round(CASE WHEN any_value(higher_is_better) THEN 1 ELSE -1 END * corr(r_value, r_rank_diff), 4)
           AS predictive_power
FROM ranked
GROUP BY dataset, model, scope, metric
ORDER BY dataset, model, scope = 'all' DESC, scope, predictive_power DESC NULLS LAST, metric;
