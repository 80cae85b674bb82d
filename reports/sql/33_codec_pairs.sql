-- title: Paired codec comparisons: how often one codec keeps the classifier at higher compression than another
-- For each pair of codecs (a, b) of one dataset and model, each criterion of the headline and each rate
-- basis both codecs have (bytes: the whole file; payload_bytes: the codec's own bits): p_a_higher, the
-- share of the bootstrap resamples over images in which a's headline compression ratio (cr_source)
-- exceeds b's, both from the same resample; ratio = a's headline / b's on the sample, with its 95%
-- interval over the same resamples (ratio_lo / ratio_hi); resamples: how many define both. Criteria as
-- in "headline_criteria" (accuracy / agreement -k pt: the rate at which it falls by more than k
-- points). Stated with at least 5 images: with fewer, the bootstrap has too few distinct resamples
-- for a share (2 images: 3); the table is written when a dataset and model have them and 2 codecs.
-- sql: defines the view paired_runs (the dataset and model pairs with at least 5 images), which
-- sql: later files use too.
CREATE OR REPLACE VIEW paired_runs AS
SELECT dataset, model, count(DISTINCT image_id) AS images
FROM observations
GROUP BY dataset, model
HAVING count(DISTINCT image_id) >= 5;

WITH codecs AS (
    SELECT DISTINCT o.dataset, o.model, o.encoder FROM observations o JOIN paired_runs USING (dataset, model)
)
SELECT a.dataset, a.model, ba.basis, c.criterion, a.encoder AS a, b.encoder AS b, r.images
FROM codecs a
JOIN codecs b ON b.dataset = a.dataset AND b.model = a.model AND a.encoder < b.encoder
JOIN codec_bases ba ON ba.dataset = a.dataset AND ba.encoder = a.encoder
JOIN codec_bases bb ON bb.dataset = b.dataset AND bb.encoder = b.encoder AND bb.basis = ba.basis
JOIN paired_runs r ON r.dataset = a.dataset AND r.model = a.model
CROSS JOIN (VALUES (1, 'study rule'), (2, 'robust rule'), (3, 'accuracy −1 pt'), (4, 'agreement −1 pt'),
                   (5, 'accuracy −5 pt'), (6, 'agreement −5 pt')) c(k, criterion)
ORDER BY a.dataset, a.model, ba.basis, c.k, a.encoder, b.encoder;
