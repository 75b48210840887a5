-- baseline_load.sql - the load half of the warehouse baseline (bench/unify).
--
-- Input: edge_text(a, b), one row per identity link of a record (made by
-- unify_edges.c, COPYed by run.sh): ('r:<message_id>',
-- 'installation_id:<value>'), ('r:<message_id>', 'custom_id:<value>'), ...
-- A record is a node too, so every event ends up with the label of the
-- person it belongs to, like an event in profilehub lands on a profile.
-- A resent record repeats its links: DISTINCT keeps one.
--
-- Output: edges(a, b) over dense bigint node ids, in both directions, and
-- labels(node, label) with every node labelled by its own id: the start of
-- the label propagation in baseline_step.sql.  Text ids are mapped to
-- bigints here (as a warehouse model would hash them) so that every
-- propagation round compares integers.
\set ON_ERROR_STOP 1

BEGIN;

CREATE TABLE nodes AS
SELECT row_number() OVER () AS id, name
FROM (SELECT a AS name FROM edge_text UNION SELECT b FROM edge_text) AS n;

CREATE TABLE edges AS
SELECT DISTINCT na.id AS a, nb.id AS b
FROM edge_text e
JOIN nodes na ON na.name = e.a
JOIN nodes nb ON nb.name = e.b;

INSERT INTO edges SELECT b, a FROM edges;

CREATE TABLE labels AS SELECT id AS node, id AS label FROM nodes;
ALTER TABLE labels ADD PRIMARY KEY (node);

COMMIT;

ANALYZE nodes;
ANALYZE edges;
ANALYZE labels;
