-- title: Is the threshold specific to each image and invariant of encoder and scale?
-- The study's claim for SSIM (Fig. 6), tested for every metric. Per metric: how well one
-- threshold per image separates dropped from held variants (mean separation), the spread of
-- the thresholds between images (std over images), and the spread within an image across
-- encoders and across scales (mean over images of the std of its per-encoder / per-scale
-- thresholds). within/between well below 1: specific to the image and invariant of encoder
-- (scale); near or above 1: not. 95% bootstrap intervals over images in *_lo / *_hi.
-- sql: needs the view thresholds (40_thresholds.sql, run first). Defines the view
-- sql: threshold_per_image (one row per image, model and metric), which the report's
-- sql: bootstrap intervals of this table resample.
CREATE OR REPLACE VIEW threshold_per_image AS
SELECT dataset, model, metric, image_id,
       any_value(threshold) FILTER (scope_kind = 'all') AS threshold,
       any_value(separation) FILTER (scope_kind = 'all') AS separation,
       stddev_pop(threshold) FILTER (scope_kind = 'encoder') AS across_encoders,
       stddev_pop(threshold) FILTER (scope_kind = 'scale') AS across_scales
FROM thresholds
GROUP BY ALL;

SELECT dataset, model, metric,
       count(threshold) AS images,
       round(avg(separation), 3) AS mean_separation,
       round(stddev_pop(threshold), 4) AS between_images,
       round(avg(across_encoders), 4) AS within_across_encoders,
       round(avg(across_scales), 4) AS within_across_scales,
       round(avg(across_encoders) / nullif(stddev_pop(threshold), 0), 2) AS encoder_ratio,
       round(avg(across_scales) / nullif(stddev_pop(threshold), 0), 2) AS scale_ratio
FROM threshold_per_image
GROUP BY dataset, model, metric
ORDER BY dataset, model, mean_separation DESC, metric;
