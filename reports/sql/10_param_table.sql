-- title: Rank difference and compression ratio per parameter set (Rennes Tables 4-6)
-- Rank difference = rank(original) - rank(variant) of the true class (negative: compression
-- hurt). Compression ratios: cr_source against the source file as given (the study's
-- definition: its sources were JPEG files), cr_raw against 24-bit raw pixels. top1_accuracy
-- counts annotated images only (annotated = how many). The *_lo / *_hi columns are 95%
-- bootstrap intervals over images.
-- sql: defines the view param_sets (one row per parameter set) that the headline queries use.
CREATE OR REPLACE VIEW param_sets AS
SELECT dataset, model, encoder, scale, color, param,
       min(param_index) AS param_index,
       count(*) AS images,
       count(correct) AS annotated,
       avg(rank_diff) AS rank_diff_mean,
       median(rank_diff) AS rank_diff_median,
       stddev_samp(rank_diff) AS rank_diff_std,
       avg(cr_source) AS cr_source_mean,
       median(cr_source) AS cr_source_median,
       stddev_samp(cr_source) AS cr_source_std,
       avg(cr_raw) AS cr_raw_mean,
       avg(bpp) AS bpp_mean,
       avg(agrees) AS top1_agreement,
       avg(correct) AS top1_accuracy
FROM observations
GROUP BY dataset, model, encoder, scale, color, param;

SELECT dataset, model, encoder, scale, color, param, images,
       round(rank_diff_mean, 2) AS rank_diff_mean,
       rank_diff_median,
       round(rank_diff_std, 2) AS rank_diff_std,
       round(cr_source_mean, 2) AS cr_source_mean,
       round(cr_source_median, 2) AS cr_source_median,
       round(cr_source_std, 2) AS cr_source_std,
       round(cr_raw_mean, 2) AS cr_raw_mean,
       round(bpp_mean, 4) AS bpp_mean,
       round(top1_agreement, 3) AS top1_agreement,
       annotated,
       round(top1_accuracy, 3) AS top1_accuracy
FROM param_sets
ORDER BY dataset, model, encoder, scale DESC, color DESC, param_index, param;
