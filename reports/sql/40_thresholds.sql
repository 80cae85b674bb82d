-- title: Per-image quality thresholds below which the classification rank drops (Rennes Fig. 6)
-- For each image, model and metric, over the image's variants (all of them, then per encoder
-- and per scale): the threshold t that best separates variants whose true-class rank dropped
-- (rank_diff < 0) from those whose rank held, by the rule "rank drops iff quality < t"
-- (for metrics where lower is better, such as LPIPS and dfd: "iff distance > t"). t is the value that makes
-- the fewest mistakes (ties: the lowest such t); separation = the share of variants the
-- rule gets right. Only images with both dropped and held variants have a threshold.
-- sql: defines the views metric_values (one row per variant, model and metric of metric_info;
-- sql: used by 70_metric_correlation.sql too) and thresholds (used by 41_threshold_invariance.sql).
CREATE OR REPLACE VIEW metric_values AS
SELECT u.*, mi.higher_is_better
FROM (
    UNPIVOT (
        SELECT p.dataset, p.model, p.image_id, p.encoder, p.scale::VARCHAR AS scale, p.rank_diff,
               p.top1_agrees::INT AS agrees,
               m.* EXCLUDE (dataset, image_id, encoder, scale, color, param, artifact_sha256, source_sha256,
                            status, error)
        FROM predictions p
        JOIN metrics m USING (dataset, image_id, encoder, scale, color, param)
        WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND m.status = 'ok' AND isfinite(m.psnr)
    ) ON COLUMNS(* EXCLUDE (dataset, model, image_id, encoder, scale, rank_diff, agrees))
    INTO NAME metric VALUE value
) u
JOIN metric_info mi ON mi.name = u.metric
WHERE isfinite(u.value);

CREATE OR REPLACE VIEW thresholds AS
WITH long AS (
    SELECT *, rank_diff < 0 AS dropped FROM metric_values
),
scoped AS (
    SELECT *, 'all' AS scope_kind, 'all' AS scope FROM long
    UNION ALL SELECT *, 'encoder', encoder FROM long
    UNION ALL SELECT *, 'scale', scale FROM long
),
counted AS (
    SELECT dataset, model, image_id, metric, scope_kind, scope, higher_is_better,
           CASE WHEN higher_is_better THEN value ELSE -value END AS q,
           sum(dropped::INT) AS drops_at, sum((NOT dropped)::INT) AS holds_at
    FROM scoped
    GROUP BY ALL
),
cumulative AS (
    SELECT *,
           sum(drops_at) OVER below - drops_at AS drops_below,
           sum(holds_at) OVER below - holds_at AS holds_below,
           sum(drops_at) OVER everything AS drops,
           sum(holds_at) OVER everything AS holds
    FROM counted
    WINDOW below AS (PARTITION BY dataset, model, image_id, metric, scope_kind, scope ORDER BY q
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
           everything AS (PARTITION BY dataset, model, image_id, metric, scope_kind, scope)
)
SELECT dataset, model, image_id, metric, scope_kind, scope,
       any_value(drops) AS dropped, any_value(holds) AS held,
       CASE WHEN any_value(higher_is_better) THEN 1 ELSE -1 END
           * arg_min(q, [(drops - drops_below) + holds_below, q]::DOUBLE[]) AS threshold,
       1 - min((drops - drops_below) + holds_below) / (any_value(drops) + any_value(holds)) AS separation
FROM cumulative
GROUP BY dataset, model, image_id, metric, scope_kind, scope
HAVING any_value(drops) > 0 AND any_value(holds) > 0;

SELECT dataset, model, image_id, metric, dropped, held, round(threshold, 4) AS threshold,
       round(separation, 3) AS separation
FROM thresholds
WHERE scope_kind = 'all'
ORDER BY dataset, model, metric, image_id;
