"""
The sync pipeline shared by ``hrflow_profiles_to_ats`` and ``hrflow_jobs_to_ats``.

* :mod:`.settings`: ``[hrflow]`` settings, params, the DAG arguments both DAGs share, the run's configuration;
* :mod:`.find`: listing unsynced objects into sealed batches (:mod:`.listing` slices, checkpoints and resumes the
  listing, :mod:`.spill` writes the batch files, :mod:`.progress` logs how far it got);
* :mod:`.batch`: transform, post and tag, one function per step;
* :mod:`.summary`: counts, failed keys and the run's verdict;
* :mod:`.payloads`: what one task returns to the next;
* :mod:`.tasks`: the module-level Airflow tasks the DAG files wire together.
"""
