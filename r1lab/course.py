"""The course map: one notebook per question, in reading order."""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.paths import NOTEBOOKS_DIR


@dataclass(frozen=True)
class Chapter:
    stem: str
    title: str
    question: str

    @property
    def filename(self) -> str:
        return f"{self.stem}.ipynb"

    @property
    def available(self) -> bool:
        return (NOTEBOOKS_DIR / self.filename).is_file()


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("00_tour", "Tour", "What is the R1 recipe and what will I build?"),
    Chapter("01_base_model", "Base model", "What does a pretrained base know, and what not?"),
    Chapter("02_sft_cold_start", "SFT cold start", "How does SFT give RL a starting point?"),
    Chapter("03_rollouts", "Rollouts", "What does the policy actually sample?"),
    Chapter("04_rewards", "Rewards", "How do we score a completion without a human?"),
    Chapter("05_grpo_from_scratch", "GRPO from scratch", "What is GRPO, exactly?"),
    Chapter("06_grpo_with_trl", "GRPO with TRL", "How do practitioners run it?"),
    Chapter("07_emergence", "Emergence", "When does RL make a model think longer?"),
    Chapter("08_why_rl", "Why RL", "Is it the negative samples, the diversity, the cold start?"),
    Chapter("09_scale_up", "Scale up", "How do I run this on a real model and GPUs?"),
    Chapter(
        "10_claims_and_evidence",
        "Claims and evidence",
        "Which claims of the R1 story does the course's own evidence support?",
    ),
)

# The editions in other languages (notebooks/<code>/, built by `r1lab edition <code>`).
LANGUAGES = {"zh": "中文"}
