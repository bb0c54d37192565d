"""vla-bench's studio: the manipulation tasks in the browser on MuJoCo's WASM build.

``bench studio`` serves a local page that simulates a track episode exactly as ``bench run``
does, for keyboard, mouse, gamepad and WebXR hand-tracking teleoperation and demo capture;
:func:`vla_bench_studio.replay.replay_fragment` embeds an episode's 3D replay in a report.
"""
