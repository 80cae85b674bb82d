-- The study's tables as DuckDB views over the Parquet files. Run from the repository root:
--   duckdb -c ".read reports/sql/views.sql" -c ".read reports/sql/10_param_table.sql" \
--          -c ".read reports/sql/30_headline.sql"
-- (Files are numbered in the order to read them: some define views that later ones use.)
-- (The report rule defines the same views over exactly the files of the current run.)
CREATE OR REPLACE VIEW images AS SELECT * FROM read_parquet('results/images/**/*.parquet');
CREATE OR REPLACE VIEW variants AS SELECT * FROM read_parquet('results/variants/**/*.parquet');
CREATE OR REPLACE VIEW predictions AS SELECT * FROM read_parquet('results/predictions/**/*.parquet');
CREATE OR REPLACE VIEW metrics AS SELECT * FROM read_parquet('results/metrics/**/*.parquet');
