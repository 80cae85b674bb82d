-- title: Replication: the Rennes study's Tables 4-7 beside this run, a verdict per number
-- Every number of the study's Tables 4-6 (per tabulated parameter set: the rank difference and the
-- compression ratio, mean / median / std dev over the images) and Table 7 (the true-class rank over
-- every variant of the study's grid, RGB vs gray), as printed (study: the view rennes2017, from
-- codecsweep/data/rennes2017_tables.csv), beside the same statistic of this run (ours) with its 95%
-- bootstrap interval over images (ours_lo / ours_hi). verdict: the study's number lies inside our
-- interval (to its printed precision), above it or below it; not run: the setting is not in this
-- run; partial grid (Table 7): not all 216 settings of the color mode ran (settings: how many did).
-- The model and the images always differ from the study's (Caffe's bvlc_alexnet on 55 ILSVRC2012
-- validation images): a verdict compares numbers, not set-ups. Compression ratios are against the
-- source files (cr_source), on the rate basis closest to the study's files (basis): the whole file
-- for JPEG (a JFIF file, as libjpeg wrote the study's) and JPEG 2000 (a J2K codestream, as OpenJPEG
-- writes), the coded picture for HEVC (payload_bytes: a BPG file, the study's, adds a header of a
-- few tens of bytes, our HEIF file some 300 bytes of boxes). departure: how far the study's number
-- lies outside our interval, as log10 of the factor between it and our nearest bound, both counted
-- as magnitude + 1 (0: inside; 1: ten times apart). The table is written when the run has at least
-- one of the study's tabulated parameter sets.
-- sql: defines the views study_grid (the study's Tables 1-3), replication_basis and replication_obs
-- sql: (one row per classified variant of the study's grid, with cr on that basis), which the
-- sql: intervals (codecsweep/report/tables/replication.py) read.
CREATE OR REPLACE VIEW study_grid AS
SELECT encoder, unnest(params) AS param
FROM (VALUES
    ('jpeg', ['1', '2', '3', '4', '5', '6', '7', '8', '10', '12', '14', '16', '18', '20', '25', '30', '40', '50']),
    ('jpeg2000', ['200,40,20', '200,40', '200', '100,20,10', '100,20', '100', '50,40,20', '50,40', '50',
                  '25,20,10', '25,20', '25', '15,10,1', '15,10', '15', '10,5,1', '10,5', '10']),
    ('hevc', ['30', '35', '36', '37', '38', '39', '40', '41', '42', '43', '44', '45', '46', '47', '48', '49',
              '50', '51'])
) g(encoder, params);

CREATE OR REPLACE VIEW replication_basis AS
SELECT dataset, encoder,
       CASE WHEN encoder = 'hevc' AND count(*) = count(payload_bytes) AND min(payload_bytes) > 0
            THEN 'payload_bytes' ELSE 'bytes' END AS basis
FROM variants
WHERE status = 'ok'
GROUP BY dataset, encoder;

CREATE OR REPLACE VIEW replication_obs AS
SELECT o.dataset, o.model, o.image_id, o.encoder, o.scale, o.color, o.param, b.basis, o.rank_diff, p.true_rank,
       CASE WHEN b.basis = 'payload_bytes' THEN o.cr_source * o.bytes / v.payload_bytes ELSE o.cr_source END AS cr
FROM observations o
JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
JOIN predictions p USING (dataset, model, image_id, encoder, scale, color, param)
JOIN replication_basis b USING (dataset, encoder)
JOIN study_grid g USING (encoder, param)
WHERE o.scale IN (1, 0.5, 0.25, 0.125) AND o.color IN ('rgb', 'gray');

WITH study AS (
    SELECT "row", CAST("table" AS INT) AS study_table, encoder,
           1.0 / CAST(split_part(scale, '/', 2) AS DOUBLE) AS scale, lower(color) AS color, param,
           CASE WHEN "table" = '7' THEN color ELSE concat_ws(' ', scale, color, param) END AS setting,
           rank_diff_mean, rank_diff_median, rank_diff_std, cr_mean, cr_median, cr_std,
           rank_mean, rank_median, rank_std, note
    FROM rennes2017
),
numbers AS (
    UNPIVOT study
    ON rank_diff_mean, rank_diff_median, rank_diff_std, cr_mean, cr_median, cr_std, rank_mean, rank_median, rank_std
    INTO NAME statistic VALUE printed
),
sets AS (
    SELECT dataset, model, encoder, scale, color, param, any_value(basis) AS basis, count(*) AS images,
           avg(rank_diff) AS rank_diff_mean, median(rank_diff) AS rank_diff_median,
           stddev_samp(rank_diff) AS rank_diff_std,
           avg(cr) AS cr_mean, median(cr) AS cr_median, stddev_samp(cr) AS cr_std
    FROM replication_obs
    GROUP BY dataset, model, encoder, scale, color, param
),
colors AS (
    SELECT dataset, model, color, count(DISTINCT image_id) AS images,
           count(DISTINCT (encoder, scale, param)) AS settings,
           avg(true_rank) AS rank_mean, median(true_rank) AS rank_median, stddev_samp(true_rank) AS rank_std
    FROM replication_obs
    GROUP BY dataset, model, color
),
runs AS (  -- the (dataset, model)s with at least one of the tabulated parameter sets
    SELECT DISTINCT s.dataset, s.model
    FROM sets s JOIN study t USING (encoder, scale, color, param)
)
SELECT r.dataset, r.model, n.study_table, n.setting, n.statistic, n.encoder, n.scale, n.color, n.param,
       s.basis,
       coalesce(s.images, c.images) AS images,
       CASE WHEN n.study_table = 7 THEN c.settings WHEN s.images IS NOT NULL THEN 1 ELSE 0 END AS settings,
       CAST(n.printed AS DOUBLE) AS study,
       round(CASE n.statistic
           WHEN 'rank_diff_mean' THEN s.rank_diff_mean WHEN 'rank_diff_median' THEN s.rank_diff_median
           WHEN 'rank_diff_std' THEN s.rank_diff_std WHEN 'cr_mean' THEN s.cr_mean
           WHEN 'cr_median' THEN s.cr_median WHEN 'cr_std' THEN s.cr_std
           WHEN 'rank_mean' THEN c.rank_mean WHEN 'rank_median' THEN c.rank_median
           WHEN 'rank_std' THEN c.rank_std END, 2) AS ours,
       n.note
FROM runs r
CROSS JOIN numbers n
LEFT JOIN sets s ON s.dataset = r.dataset AND s.model = r.model AND n.study_table < 7 AND s.encoder = n.encoder
                AND s.scale = n.scale AND s.color = n.color AND s.param = n.param
LEFT JOIN colors c ON c.dataset = r.dataset AND c.model = r.model AND n.study_table = 7 AND c.color = n.color
ORDER BY r.dataset, r.model, n."row",
         list_position(['rank_diff_mean', 'rank_diff_median', 'rank_diff_std', 'cr_mean', 'cr_median', 'cr_std',
                        'rank_mean', 'rank_median', 'rank_std'], n.statistic);
