-- title: Paired BD-rates: how often one codec needs fewer bits than another at equal accuracy
-- For each pair of codecs (a, b), RGB scale, measure (top-1 accuracy on the annotated images, top-1
-- agreement on all) and rate basis both have: the Bjøntegaard-style bitrate change of a against b
-- (bitrate_change: -0.30 = a needs 30% fewer bits for the same accuracy) with its 95% bootstrap
-- interval over images, and p_a_fewer_bits, the share of the resamples in which it is negative (a's
-- curve and b's from the same resample); resamples: how many define it (the accuracy ranges
-- overlap). With at least 5 images (see "codec_pairs"; the view paired_runs).
WITH curves AS (
    SELECT DISTINCT o.dataset, o.model, o.encoder, o.scale
    FROM observations o JOIN paired_runs USING (dataset, model)
    WHERE o.color = 'rgb'
)
SELECT a.dataset, a.model, ba.basis, a.scale, 'rgb' AS color, m.at_equal, a.encoder AS a, b.encoder AS b, r.images
FROM curves a
JOIN curves b ON b.dataset = a.dataset AND b.model = a.model AND b.scale = a.scale AND a.encoder < b.encoder
JOIN codec_bases ba ON ba.dataset = a.dataset AND ba.encoder = a.encoder
JOIN codec_bases bb ON bb.dataset = b.dataset AND bb.encoder = b.encoder AND bb.basis = ba.basis
JOIN paired_runs r ON r.dataset = a.dataset AND r.model = a.model
CROSS JOIN (VALUES ('top-1 accuracy'), ('top-1 agreement')) m(at_equal)
ORDER BY a.dataset, a.model, ba.basis, a.scale DESC, m.at_equal, a.encoder, b.encoder;
