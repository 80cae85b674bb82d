-- title: The study's rule and the robust rule per encoder, scale and color
-- The study's rule (largest mean cr_source with mean rank difference >= -1) with the search
-- restricted to one scale and one color mode at a time, next to the robust rule: the most
-- compressed setting that passes together with every less compressed one (by mean bpp), so
-- that an isolated pass between failing neighbours does not count. 95% bootstrap intervals
-- over images in *_lo / *_hi.
-- sql: needs the view param_sets (10_param_table.sql).
SELECT dataset, model, encoder, scale, color,
       count(*) FILTER (rank_diff_mean >= -1) AS sets_within_1,
       count(*) AS sets,
       round(max(cr_source_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_source,
       arg_max(param, (cr_source_mean, param_index, param)) FILTER (rank_diff_mean >= -1) AS at_param_source,
       round(max(cr_raw_mean) FILTER (rank_diff_mean >= -1), 2) AS max_cr_raw,
       arg_max(param, (cr_raw_mean, param_index, param)) FILTER (rank_diff_mean >= -1) AS at_param_raw
FROM param_sets
GROUP BY dataset, model, encoder, scale, color
ORDER BY dataset, model, encoder, scale DESC, color DESC;
