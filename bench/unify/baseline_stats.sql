-- baseline_stats.sql - what the warehouse baseline found (bench/unify):
-- one line "persons P largest L records R", where a person is a connected
-- component that holds at least one identifier, L its largest size in
-- identifiers and R the record nodes labelled.
\set ON_ERROR_STOP 1
\pset tuples_only on
\pset format unaligned
\pset fieldsep ' '
WITH ids AS (
	SELECT l.label
	FROM labels l
	JOIN nodes n ON n.id = l.node
	WHERE n.name NOT LIKE 'r:%'
), sizes AS (
	SELECT label, count(*) AS n FROM ids GROUP BY label
)
SELECT 'persons', (SELECT count(*) FROM sizes),
       'largest', (SELECT coalesce(max(n), 0) FROM sizes),
       'records', (SELECT count(*) FROM nodes WHERE name LIKE 'r:%');
