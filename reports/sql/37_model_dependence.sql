-- title: Model dependence: how often one model tolerates more compression than another
-- With several models on one dataset: per codec and criterion of the headline, each model's headline
-- compression ratio (cr_source, the whole file) with its 95% interval, and for each pair of models
-- (a, b) classified on the same images, p_a_higher: the share of the bootstrap resamples over images
-- in which a's headline exceeds b's (both from the same resample), and ratio = a's / b's with its
-- interval. With at least 5 images (see "codec_pairs"); the table is written when a dataset has 2
-- models.
WITH models AS (
    SELECT dataset, model, count(DISTINCT image_id) AS images FROM observations GROUP BY dataset, model
),
codecs AS (SELECT DISTINCT dataset, model, encoder FROM observations)
SELECT a.dataset, e.encoder, c.criterion, a.model AS model_a, b.model AS model_b, a.images
FROM models a
JOIN models b ON b.dataset = a.dataset AND a.model < b.model AND b.images = a.images AND a.images >= 5
JOIN codecs e ON e.dataset = a.dataset AND e.model = a.model
JOIN codecs f ON f.dataset = b.dataset AND f.model = b.model AND f.encoder = e.encoder
CROSS JOIN (VALUES (1, 'study rule'), (2, 'robust rule'), (3, 'accuracy −1 pt'), (4, 'agreement −1 pt'),
                   (5, 'accuracy −5 pt'), (6, 'agreement −5 pt')) c(k, criterion)
ORDER BY a.dataset, e.encoder, c.k, a.model, b.model;
