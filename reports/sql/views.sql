-- The study's tables as DuckDB views over the Parquet files. From the project folder:
--   codecsweep sql reports/sql/30_headline.sql   (defines these views, then runs the file)
-- (Files are numbered in the order to read them: some define views that later ones use.)
-- The report (codecsweep.report.database.connect) and `codecsweep sql` define these four
-- views over exactly the files of the current run, and the view metric_info (name, label,
-- unit, higher_is_better, "group" per quality metric; 40_thresholds.sql joins it) from
-- codecsweep.core.metric_table.METRIC_INFO, the one list of metrics: there is no copy here.
-- They then run everything after the line "-- derived views" below.
CREATE OR REPLACE VIEW images AS SELECT * FROM read_parquet('results/images/**/*.parquet');
CREATE OR REPLACE VIEW variants AS SELECT * FROM read_parquet('results/variants/**/*.parquet');
CREATE OR REPLACE VIEW predictions AS SELECT * FROM read_parquet('results/predictions/**/*.parquet');
CREATE OR REPLACE VIEW metrics AS SELECT * FROM read_parquet('results/metrics/**/*.parquet');

-- derived views
-- observations: one row per classified variant and model, with what the statistics need.
-- correct: top-1 = the annotated class (null for pseudo-labelled images, which have none).
CREATE OR REPLACE VIEW observations AS
SELECT p.dataset, p.model, p.image_id, v.encoder, v.scale, v.color, v.param, v.param_index,
       i.label_source, p.rank_diff, p.top1_agrees::INT AS agrees,
       CASE WHEN i.label_source = 'annotated' THEN (p.true_rank = 0)::INT END AS correct,
       v.bytes, v.bpp, v.cr_raw, v.cr_source
FROM predictions p
JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
JOIN images i USING (dataset, image_id)
WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND v.status = 'ok' AND i.status = 'ok';

-- originals: one row per classified original image and model.
CREATE OR REPLACE VIEW originals AS
SELECT p.dataset, p.model, p.image_id, i.label_source, p.top1,
       CASE WHEN i.label_source = 'annotated' THEN (p.true_rank = 0)::INT END AS correct
FROM predictions p
JOIN images i USING (dataset, image_id)
WHERE p.encoder IS NULL AND p.status = 'ok' AND i.status = 'ok';
