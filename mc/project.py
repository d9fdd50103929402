"""Where the project's data lives: the repository root and its folders."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
COUNTEREXAMPLES = ROOT / "counterexamples"
SHIPPED_MODELS = ROOT / "models"
