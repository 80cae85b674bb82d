-- title: Accuracy curves: agreement with the original vs the quality parameter and bitrate
-- Per encoder, scale, color and parameter: top-1 agreement (variant's top-1 = original's),
-- top-5 agreement (original's top-1 within the variant's top-5), top-1 and top-5 accuracy
-- against the annotated labels (annotated images only: pseudo-labelled ones have no label),
-- mean rank difference, mean bits per pixel. 95% bootstrap intervals over images in
-- *_lo / *_hi. Rows follow the grid order.
SELECT p.dataset, p.model, v.encoder, v.scale, v.color, v.param,
       min(v.param_index) AS param_index,
       count(*) AS images,
       round(avg(p.top1_agrees::INT), 4) AS top1_agreement,
       round(avg(list_contains(p.top5, o.top1)::INT), 4) AS top5_agreement,
       count(*) FILTER (i.label_source = 'annotated') AS annotated,
       round(avg((p.true_rank = 0)::INT) FILTER (i.label_source = 'annotated'), 4) AS top1_accuracy,
       round(avg((p.true_rank < 5)::INT) FILTER (i.label_source = 'annotated'), 4) AS top5_accuracy,
       round(avg(p.rank_diff), 3) AS rank_diff_mean,
       round(avg(v.bpp), 5) AS bpp_mean,
       round(avg(v.cr_raw), 3) AS cr_raw_mean,
       round(avg(v.cr_source), 3) AS cr_source_mean
FROM predictions p
JOIN predictions o ON o.dataset = p.dataset AND o.model = p.model AND o.image_id = p.image_id AND o.encoder IS NULL
JOIN variants v ON v.dataset = p.dataset AND v.image_id = p.image_id AND v.encoder = p.encoder
               AND v.scale = p.scale AND v.color = p.color AND v.param = p.param
JOIN images i ON i.dataset = p.dataset AND i.image_id = p.image_id
WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND o.status = 'ok' AND v.status = 'ok'
GROUP BY p.dataset, p.model, v.encoder, v.scale, v.color, v.param
ORDER BY p.dataset, p.model, v.encoder, v.scale DESC, v.color DESC, param_index, v.param;
