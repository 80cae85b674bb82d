-- title: The per-image oracle: the setting chosen per image against one fixed setting
-- For each image and encoder (and across all encoders: encoder "(any)") the oracle takes the
-- smallest variant (bytes) that keeps the original's top-1 (criterion "top-1 kept") or that
-- keeps the rank loss within 1 ("rank loss <= 1"); an image with no such variant gets its
-- smallest variant and counts as lost. Against it: the one fixed setting (scale, color,
-- parameter; any encoder for "(any)") with the lowest mean bpp that keeps at least the oracle's
-- share of images; where none does, the fixed setting that keeps the most images (ties: fewest
-- bits), and the oracle then keeps more. saving = 1 - oracle bpp / fixed bpp: the share of the
-- bits that choosing the setting per image would save. 95% bootstrap intervals over images.
-- sql: defines the views oracle_input and oracle_choice (one row per image, scope, criterion).
CREATE OR REPLACE VIEW oracle_input AS
WITH judged AS (
    SELECT o.*, c.criterion,
           CASE c.criterion WHEN 'top-1 kept' THEN agrees = 1 ELSE rank_diff >= -1 END AS kept
    FROM observations o, (VALUES ('top-1 kept'), ('rank loss <= 1')) AS c(criterion)
)
SELECT *, encoder AS scope FROM judged
UNION ALL
SELECT *, '(any)' AS scope FROM judged;

CREATE OR REPLACE VIEW oracle_choice AS
SELECT dataset, model, criterion, scope, image_id,
       bool_or(kept) AS kept,
       arg_min(bpp, (NOT kept, bytes, encoder, scale, color, param)) AS bpp,
       arg_min(format('{} scale {} {} q={}', encoder, scale, color, param),
               (NOT kept, bytes, encoder, scale, color, param)) AS setting
FROM oracle_input
GROUP BY dataset, model, criterion, scope, image_id;

WITH oracle AS (
    SELECT dataset, model, criterion, scope, count(*) AS images,
           avg(kept::INT) AS oracle_share, avg(bpp) AS oracle_bpp
    FROM oracle_choice
    GROUP BY dataset, model, criterion, scope
),
fixed AS (
    SELECT dataset, model, criterion, scope,
           format('{} scale {} {} q={}', encoder, scale, color, param) AS setting,
           avg(kept::INT) AS share, avg(bpp) AS bpp
    FROM oracle_input
    GROUP BY dataset, model, criterion, scope, encoder, scale, color, param
),
best AS (
    SELECT f.dataset, f.model, f.criterion, f.scope,
           arg_min(f.setting, (f.share < o.oracle_share - 1e-9,
                               CASE WHEN f.share >= o.oracle_share - 1e-9 THEN f.bpp ELSE -f.share END,
                               f.bpp, f.setting)) AS fixed_setting,
           arg_min(f.share, (f.share < o.oracle_share - 1e-9,
                             CASE WHEN f.share >= o.oracle_share - 1e-9 THEN f.bpp ELSE -f.share END,
                             f.bpp, f.setting)) AS fixed_share,
           arg_min(f.bpp, (f.share < o.oracle_share - 1e-9,
                           CASE WHEN f.share >= o.oracle_share - 1e-9 THEN f.bpp ELSE -f.share END,
                           f.bpp, f.setting)) AS fixed_bpp
    FROM fixed f
    JOIN oracle o USING (dataset, model, criterion, scope)
    GROUP BY f.dataset, f.model, f.criterion, f.scope
)
SELECT dataset, model, criterion, scope AS encoder, images,
       round(oracle_share, 4) AS oracle_share,
       round(oracle_bpp, 5) AS oracle_bpp,
       fixed_setting,
       round(fixed_share, 4) AS fixed_share,
       round(fixed_bpp, 5) AS fixed_bpp,
       round(1 - oracle_bpp / fixed_bpp, 4) AS saving
FROM oracle
JOIN best USING (dataset, model, criterion, scope)
ORDER BY dataset, model, criterion DESC, scope = '(any)' DESC, scope;
