-- title: Accuracy curves: agreement with the original vs the quality parameter and bitrate
-- Per encoder, scale, color and parameter: top-1 agreement (variant's top-1 = original's),
-- top-5 agreement (original's top-1 within the variant's top-5), true-class top-1 and top-5
-- accuracy, mean rank difference, mean bits per pixel. Rows follow the grid order.
SELECT p.dataset, p.model, v.encoder, v.scale, v.color, v.param,
       min(v.param_index) AS param_index,
       count(*) AS images,
       round(avg(p.top1_agrees::INT), 4) AS top1_agreement,
       round(avg(list_contains(p.top5, o.top1)::INT), 4) AS top5_agreement,
       round(avg((p.true_rank = 0)::INT), 4) AS top1_accuracy,
       round(avg((p.true_rank < 5)::INT), 4) AS top5_accuracy,
       round(avg(p.rank_diff), 3) AS rank_diff_mean,
       avg(v.bpp) AS bpp_mean,
       avg(v.cr_raw) AS cr_raw_mean
FROM predictions p
JOIN predictions o ON o.dataset = p.dataset AND o.model = p.model AND o.image_id = p.image_id AND o.encoder IS NULL
JOIN variants v ON v.dataset = p.dataset AND v.image_id = p.image_id AND v.encoder = p.encoder
               AND v.scale = p.scale AND v.color = p.color AND v.param = p.param
WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND o.status = 'ok'
GROUP BY p.dataset, p.model, v.encoder, v.scale, v.color, v.param
ORDER BY p.dataset, p.model, v.encoder, v.scale DESC, v.color DESC, param_index;
