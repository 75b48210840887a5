-- baseline_step.sql - one round of the warehouse baseline (bench/unify):
-- every node takes the smallest label among itself and its neighbours.
-- run.sh repeats it, one committed transaction per round, until a round
-- changes no row; the labels are then the connected components of the
-- identity graph.
UPDATE labels l
SET label = m.label
FROM (SELECT e.a AS node, min(n.label) AS label
      FROM edges e
      JOIN labels n ON n.node = e.b
      GROUP BY e.a) AS m
WHERE l.node = m.node
  AND m.label < l.label;
