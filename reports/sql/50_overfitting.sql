-- title: Images whose rank improves under compression ("JPEG over-fitting", Rennes Fig. 7)
-- Per image, model and encoder: how many variants rank the true class better than the
-- original does (rank_diff > 0), the largest improvement, and at which compression ratio.
-- The study saw it for images badly classified at the start (rank > 50), mostly with JPEG.
SELECT p.dataset, p.model, p.image_id, p.encoder,
       any_value(p.original_rank) AS original_rank,
       count(*) FILTER (p.rank_diff > 0) AS improved_variants,
       count(*) AS variants,
       max(p.rank_diff) AS best_rank_diff,
       arg_max(format('scale {} {} q={}', p.scale, p.color, p.param), (p.rank_diff, v.cr_source, p.scale, p.color, p.param))
           AS best_variant,
       round(arg_max(v.cr_source, (p.rank_diff, v.cr_source, p.scale, p.color, p.param)), 2) AS best_cr_source
FROM predictions p
JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
WHERE p.encoder IS NOT NULL AND p.status = 'ok'
GROUP BY p.dataset, p.model, p.image_id, p.encoder
HAVING count(*) FILTER (p.rank_diff > 0) > 0
ORDER BY p.dataset, p.model, best_rank_diff DESC, p.image_id, p.encoder;
