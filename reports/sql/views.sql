-- The study's tables as DuckDB views over the Parquet files. Run from the repository root:
--   duckdb -c ".read reports/sql/views.sql" -c ".read reports/sql/headline.sql"
-- (The report rule defines the same views over exactly the files of the current run.)
CREATE OR REPLACE VIEW images AS SELECT * FROM read_parquet('results/images/*.parquet');
CREATE OR REPLACE VIEW variants AS SELECT * FROM read_parquet('results/variants/**/*.parquet');
CREATE OR REPLACE VIEW predictions AS SELECT * FROM read_parquet('results/predictions/**/*.parquet');
CREATE OR REPLACE VIEW metrics AS SELECT * FROM read_parquet('results/metrics/**/*.parquet');
