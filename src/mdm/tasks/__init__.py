"""Datasets and tasks: text corpora, Sudoku, arithmetic, ... (each a dataset + a verifier)."""
