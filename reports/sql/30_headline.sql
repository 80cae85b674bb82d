-- title: Largest mean compression ratio with mean rank loss within 1, per encoder (the study's rule)
-- The study's headline (AlexNet, 55 ImageNet JPEGs): 7 / 16 / 40 for JPEG / JPEG 2000 / BPG,
-- compression against the source JPEG files (our cr_source; cr_raw is against raw pixels).
-- Among the parameter sets (scale, color, parameter) whose mean rank difference is >= -1,
-- the one with the largest mean compression ratio. A maximum over a noisy grid: the
-- *_lo / *_hi columns (95% bootstrap over images, the rule re-applied in every resample)
-- show how far it moves; the robust criteria are in the table "headline_criteria".
-- sql: needs the view param_sets (10_param_table.sql).
SELECT dataset, model, encoder,
       count(*) FILTER (rank_diff_mean >= -1) AS sets_within_1,
       count(*) AS sets,
       max(images) AS images,
       round(max(cr_source_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_source,
       arg_max(format('scale {} {} q={}', scale, color, param), (cr_source_mean, param_index, param))
           FILTER (rank_diff_mean >= -1) AS at_source,
       round(max(cr_raw_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_raw,
       arg_max(format('scale {} {} q={}', scale, color, param), (cr_raw_mean, param_index, param))
           FILTER (rank_diff_mean >= -1) AS at_raw
FROM param_sets
GROUP BY dataset, model, encoder
ORDER BY dataset, model, encoder;
