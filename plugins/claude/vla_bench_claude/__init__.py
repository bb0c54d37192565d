"""vla-bench policies ``claude`` and ``vlm``: zero-shot vision-language agents over HTTP APIs.

Each step sends the camera image, the goal, the state as text and the action menu, and reads
the action from a tool call (or, failing that, from a quoted action name in the text).
``vla_bench_claude.standin`` holds faithful local stand-ins of both APIs for offline tests
and dry runs.
"""
