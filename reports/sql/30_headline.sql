-- title: Largest mean compression ratio with mean rank loss within 1, per encoder
-- The study's headline (AlexNet, 55 ImageNet JPEGs): 7 / 16 / 40 for JPEG / JPEG 2000 / BPG.
-- Among the parameter sets (scale, color, parameter) whose mean rank difference is >= -1,
-- the one with the largest mean compression ratio, against the source files (the study's
-- definition) and against raw 24-bit pixels. Needs the view param_sets (10_param_table.sql).
SELECT dataset, model, encoder,
       count(*) FILTER (rank_diff_mean >= -1) AS sets_within_1,
       count(*) AS sets,
       round(max(cr_source_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_source,
       arg_max(format('scale {} {} q={}', scale, color, param), cr_source_mean)
           FILTER (rank_diff_mean >= -1) AS at_source,
       round(max(cr_raw_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_raw,
       arg_max(format('scale {} {} q={}', scale, color, param), cr_raw_mean)
           FILTER (rank_diff_mean >= -1) AS at_raw
FROM param_sets
GROUP BY dataset, model, encoder
ORDER BY dataset, model, encoder;
