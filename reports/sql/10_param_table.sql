-- title: Rank difference and compression ratio per parameter set (Rennes Tables 4-6)
-- Rank difference = rank(original) - rank(variant) of the true class (negative: compression
-- hurt). Compression ratios: cr_source against the source file as given (the study's
-- definition: its sources were JPEG files), cr_raw against 24-bit raw pixels.
SELECT p.dataset, p.model, v.encoder, v.scale, v.color, v.param,
       count(*) AS images,
       round(avg(p.rank_diff), 2) AS rank_diff_mean,
       median(p.rank_diff) AS rank_diff_median,
       round(stddev_samp(p.rank_diff), 2) AS rank_diff_std,
       round(avg(v.cr_source), 2) AS cr_source_mean,
       round(median(v.cr_source), 2) AS cr_source_median,
       round(stddev_samp(v.cr_source), 2) AS cr_source_std,
       round(avg(v.cr_raw), 2) AS cr_raw_mean,
       round(avg(v.bpp), 4) AS bpp_mean,
       round(avg(p.top1_agrees::INT), 3) AS top1_agreement
FROM predictions p
JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND v.status = 'ok'
GROUP BY p.dataset, p.model, v.encoder, v.scale, v.color, v.param
ORDER BY p.dataset, p.model, v.encoder, v.scale DESC, v.color DESC, min(v.param_index);
