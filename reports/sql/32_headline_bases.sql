-- title: The headline on two rate bases: the whole file and the codec's own bits
-- The headline per codec by each criterion (as in the table "headline_criteria"), with the rate
-- counted two ways (basis): the whole encoded file (bytes, what every other table counts) and the
-- codec's entropy-coded payload (payload_bytes: container, headers and markers left out; for HEVC
-- the HEIF boxes and parameter sets). overhead_min / overhead_max: bytes - payload_bytes over the
-- codec's variants; overhead_share: the median overhead over the median file. Compression ratios
-- against the source files (cr_source). study_rule (and study_rule_at) from SQL; the other criteria and every
-- 95% bootstrap interval over images (*_lo / *_hi) re-computed from the resamples. Only codecs whose
-- every variant has a payload size (not JPEG XL); the table is written when one has.
-- sql: defines the views codec_bases (dataset, encoder, basis: every codec on bytes, and on
-- sql: payload_bytes those whose every variant has one) and basis_observations (observations with
-- sql: basis_cr_source and basis_bpp on each basis), which later files use too.
CREATE OR REPLACE VIEW codec_bases AS
SELECT dataset, encoder, 'bytes' AS basis FROM variants WHERE status = 'ok' GROUP BY dataset, encoder
UNION ALL
SELECT dataset, encoder, 'payload_bytes' AS basis FROM variants WHERE status = 'ok' GROUP BY dataset, encoder
HAVING count(*) = count(payload_bytes) AND min(payload_bytes) > 0;

CREATE OR REPLACE VIEW basis_observations AS
SELECT o.*, b.basis,
       CASE WHEN b.basis = 'bytes' THEN o.cr_source ELSE o.cr_source * o.bytes / v.payload_bytes END AS basis_cr_source,
       CASE WHEN b.basis = 'bytes' THEN o.bpp ELSE o.bpp * v.payload_bytes / o.bytes END AS basis_bpp
FROM observations o
JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
JOIN codec_bases b USING (dataset, encoder);

WITH sets AS (
    SELECT dataset, model, encoder, basis, scale, color, param, min(param_index) AS param_index,
           count(*) AS images, avg(rank_diff) AS rank_diff_mean, avg(basis_cr_source) AS cr_source_mean
    FROM basis_observations
    WHERE (dataset, encoder) IN (SELECT (dataset, encoder) FROM codec_bases WHERE basis = 'payload_bytes')
    GROUP BY dataset, model, encoder, basis, scale, color, param
),
overhead AS (  -- what the whole file counts beyond the codec's own bits
    SELECT dataset, encoder, min(bytes - payload_bytes) AS overhead_min, max(bytes - payload_bytes) AS overhead_max,
           round(median(bytes - payload_bytes) / median(bytes), 3) AS overhead_share
    FROM variants
    WHERE status = 'ok'
    GROUP BY dataset, encoder
)
SELECT s.dataset, s.model, s.encoder, s.basis, any_value(o.overhead_min) AS overhead_min,
       any_value(o.overhead_max) AS overhead_max, any_value(o.overhead_share) AS overhead_share,
       max(s.images) AS images,
       round(max(s.cr_source_mean) FILTER (s.rank_diff_mean >= -1), 2) AS study_rule,
       arg_max(format('scale {} {} q={}', s.scale, s.color, s.param), (s.cr_source_mean, s.param_index, s.param))
           FILTER (s.rank_diff_mean >= -1) AS study_rule_at
FROM sets s
JOIN overhead o USING (dataset, encoder)
GROUP BY s.dataset, s.model, s.encoder, s.basis
ORDER BY s.dataset, s.model, s.encoder, s.basis;
