"""ECGInstruct-style instruction data synthesis (``ecg-agent synth``): labelled recordings in, rendered
pages and grounded LLaVA JSON conversations out. See docs/synth.md.

Modules: ``sources`` (simulator, LUDB, WFDB folder, PTB-XL), ``tasks`` (families and answer forms),
``phrasing`` (template variants), ``pages`` (standard and augmented renders), ``dataset`` (the
seeded, multi-process driver), ``rewrite`` (optional LLM rephrasing), ``card`` and ``writer``.
"""
