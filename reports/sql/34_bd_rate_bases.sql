-- title: Bitrate change against JPEG on two rate bases (Bjøntegaard-style)
-- The table "bd_rate" (bits a codec needs against JPEG at equal top-1 accuracy / agreement, per scale,
-- RGB; -0.30 = 30% fewer) with the rate counted two ways (basis): the whole file (bytes) and the
-- codec's own bits (payload_bytes). 95% bootstrap intervals over images; only codecs whose every
-- variant has a payload size, with JPEG; the table is written when one has.
WITH curves AS (
    SELECT DISTINCT o.dataset, o.model, o.encoder, o.scale, o.color
    FROM observations o
    WHERE o.color = 'rgb'
      AND (o.dataset, o.encoder) IN (SELECT (dataset, encoder) FROM codec_bases WHERE basis = 'payload_bytes')
)
SELECT t.dataset, t.model, t.scale, t.color, t.encoder, 'jpeg' AS vs, m.at_equal, b.basis
FROM curves t
JOIN curves r ON r.dataset = t.dataset AND r.model = t.model AND r.scale = t.scale AND r.color = t.color
             AND r.encoder = 'jpeg'
CROSS JOIN (VALUES ('top-1 accuracy'), ('top-1 agreement')) m(at_equal)
CROSS JOIN (VALUES ('bytes'), ('payload_bytes')) b(basis)
WHERE t.encoder <> 'jpeg'
ORDER BY t.dataset, t.model, t.scale DESC, t.encoder, m.at_equal, b.basis;
