import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The GUI tests' fixtures (lab_env, models, dialogs, window) for every test module that asks for them by name.
pytest_plugins = ["test_gui_support"]
