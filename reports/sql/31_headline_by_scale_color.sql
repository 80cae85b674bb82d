-- title: Largest mean compression ratio with mean rank loss within 1, per encoder, scale and color
-- As the headline, with the search restricted to one scale and one color mode at a time.
-- Needs the view param_sets (10_param_table.sql).
SELECT dataset, model, encoder, scale, color,
       count(*) FILTER (rank_diff_mean >= -1) AS sets_within_1,
       round(max(cr_source_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_source,
       arg_max(param, cr_source_mean) FILTER (rank_diff_mean >= -1) AS at_param_source,
       round(max(cr_raw_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_raw,
       arg_max(param, cr_raw_mean) FILTER (rank_diff_mean >= -1) AS at_param_raw
FROM param_sets
GROUP BY dataset, model, encoder, scale, color
ORDER BY dataset, model, encoder, scale DESC, color DESC;
