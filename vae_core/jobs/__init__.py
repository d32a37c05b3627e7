"""Trainings as jobs: a file job store any process can read, a huey queue, and the worker.

``store`` keeps one folder per job (record, progress records, stop and heartbeat files);
``runner`` runs one job's training in whatever process picked it up; ``queue`` builds the huey
instance (SQLite in the jobs folder, or Redis) and starts a local worker when none is running.
No Streamlit here: the Train page (``ui.training_jobs``) and ``python -m vae_core worker`` are
two thin front ends.
"""
