-- title: Classification by color mode (Rennes Table 7)
-- Rank of the true class over all variants of each color mode (the study's Table 7), and
-- the mean rank difference against the originals. The *_lo / *_hi columns are 95%
-- bootstrap intervals over images.
SELECT dataset, model, color,
       count(*) AS variants,
       count(DISTINCT image_id) AS images,
       round(avg(true_rank), 1) AS rank_mean,
       median(true_rank) AS rank_median,
       round(stddev_samp(true_rank), 1) AS rank_std,
       round(avg(rank_diff), 2) AS rank_diff_mean,
       round(avg(top1_agrees::INT), 3) AS top1_agreement
FROM predictions
WHERE encoder IS NOT NULL AND status = 'ok'
GROUP BY dataset, model, color
ORDER BY dataset, model, color DESC;
