"""What the embedded demo sets are made with: `draw` (backgrounds, noise, posed points, saving) and
`store` (a set written once, atomically, known by its manifest). The sets are the tasks' own
(tasks/synthetic/)."""
