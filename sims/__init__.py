"""Executors of exported graphs: ``ds2ta.sims.reference`` (torch integer reference) and
``ds2ta.sims.lava`` (Lava processes). See docs/architecture.md."""
