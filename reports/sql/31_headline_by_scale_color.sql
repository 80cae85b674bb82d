-- title: Largest mean compression ratio with mean rank loss within 1, per encoder, scale and color
-- As the headline, with the search restricted to one scale and one color mode at a time.
WITH per_set AS (
    SELECT p.dataset, p.model, v.encoder, v.scale, v.color, v.param,
           avg(p.rank_diff) AS rank_diff_mean,
           avg(v.cr_source) AS cr_source_mean,
           avg(v.cr_raw) AS cr_raw_mean
    FROM predictions p
    JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
    WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND v.status = 'ok'
    GROUP BY ALL
)
SELECT dataset, model, encoder, scale, color,
       count(*) FILTER (rank_diff_mean >= -1) AS sets_within_1,
       round(max(cr_source_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_source,
       arg_max(param, cr_source_mean) FILTER (rank_diff_mean >= -1) AS at_param_source,
       round(max(cr_raw_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_raw,
       arg_max(param, cr_raw_mean) FILTER (rank_diff_mean >= -1) AS at_param_raw
FROM per_set
GROUP BY dataset, model, encoder, scale, color
ORDER BY dataset, model, encoder, scale DESC, color DESC;
