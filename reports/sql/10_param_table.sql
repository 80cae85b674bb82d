-- title: Rank difference and compression ratio per parameter set (Rennes Tables 4-6)
-- Rank difference = rank(original) - rank(variant) of the true class (negative: compression
-- hurt). Compression ratios: cr_source against the source file as given (the study's
-- definition: its sources were JPEG files), cr_raw against 24-bit raw pixels. Defines the
-- view param_sets (one row per parameter set) that the headline queries use.
CREATE OR REPLACE VIEW param_sets AS
SELECT p.dataset, p.model, v.encoder, v.scale, v.color, v.param,
       min(v.param_index) AS param_index,
       count(*) AS images,
       avg(p.rank_diff) AS rank_diff_mean,
       median(p.rank_diff) AS rank_diff_median,
       stddev_samp(p.rank_diff) AS rank_diff_std,
       avg(v.cr_source) AS cr_source_mean,
       median(v.cr_source) AS cr_source_median,
       stddev_samp(v.cr_source) AS cr_source_std,
       avg(v.cr_raw) AS cr_raw_mean,
       avg(v.bpp) AS bpp_mean,
       avg(p.top1_agrees::INT) AS top1_agreement
FROM predictions p
JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND v.status = 'ok'
GROUP BY p.dataset, p.model, v.encoder, v.scale, v.color, v.param;

SELECT dataset, model, encoder, scale, color, param, images,
       round(rank_diff_mean, 2) AS rank_diff_mean,
       rank_diff_median,
       round(rank_diff_std, 2) AS rank_diff_std,
       round(cr_source_mean, 2) AS cr_source_mean,
       round(cr_source_median, 2) AS cr_source_median,
       round(cr_source_std, 2) AS cr_source_std,
       round(cr_raw_mean, 2) AS cr_raw_mean,
       round(bpp_mean, 4) AS bpp_mean,
       round(top1_agreement, 3) AS top1_agreement
FROM param_sets
ORDER BY dataset, model, encoder, scale DESC, color DESC, param_index;
