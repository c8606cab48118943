-- SQLite's outbox lost a table and three indexes here (its one writer writes every outbox row,
-- see its 0026). PostgreSQL's writes run side by side, and its outbox keeps its shape.
SELECT 1;
