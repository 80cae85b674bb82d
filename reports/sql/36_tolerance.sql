-- title: Criteria that fit the sample: the most compression whose loss is not significantly above k points
-- N images resolve an accuracy change of 100/N points at best (one image), so "falls by more than 1
-- point" needs at least 100 images and means "no image lost" below that. Here, per codec and measure
-- (top-1 accuracy against the labels, annotated images only; top-1 agreement with the original's
-- prediction, all images) and k = 5 points: the most compressed setting that passes together with every
-- less compressed one (each scale and color mode's curve, by mean bpp; the best curve), where a setting
-- passes when its loss (the originals' accuracy minus the variant's, in points, paired within each
-- resample) is not significantly above k (side "not above": the loss exceeds k in fewer than 95% of
-- the bootstrap resamples, a one-sided test) or, the stricter reading, significantly below k (side
-- "below": at most k in at least 95%). images: those the measure rests on; resolution_pt = 100 /
-- images; needs_images: the images k needs (100 / k) where these do not suffice (the numbers are then
-- those of a coarser criterion). cr_source / bpp: the chosen setting's means with their intervals
-- (given the choice); loss_pt: its loss on the sample; loss_bound_pt: the one-sided 95% bound the
-- test used (5th percentile for "not above", 95th for "below"). With at least 5 images (paired_runs).
-- sql: defines the view tolerance_criteria (measure, side, k_pt), which the Python columns follow.
CREATE OR REPLACE VIEW tolerance_criteria AS
SELECT * FROM (VALUES (1, 'top-1 accuracy', 'not above', 5), (2, 'top-1 agreement', 'not above', 5),
                      (3, 'top-1 accuracy', 'below', 5), (4, 'top-1 agreement', 'below', 5)) t(k, measure, side, k_pt);

WITH counts AS (
    SELECT o.dataset, o.model, o.encoder, count(DISTINCT o.image_id) AS images,
           count(DISTINCT o.image_id) FILTER (o.correct IS NOT NULL) AS annotated
    FROM observations o JOIN paired_runs USING (dataset, model)
    GROUP BY o.dataset, o.model, o.encoder
),
rows AS (
    SELECT c.dataset, c.model, c.encoder, t.measure, t.side, t.k_pt, t.k,
           CASE WHEN t.measure = 'top-1 accuracy' THEN c.annotated ELSE c.images END AS images
    FROM counts c CROSS JOIN tolerance_criteria t
)
SELECT dataset, model, encoder, measure, side, k_pt, images,
       CASE WHEN images > 0 THEN round(100.0 / images, 1) END AS resolution_pt,
       CASE WHEN images = 0 OR 100.0 / images > k_pt THEN CAST(ceil(100.0 / k_pt) AS INT) END AS needs_images
FROM rows
ORDER BY dataset, model, encoder, k;
