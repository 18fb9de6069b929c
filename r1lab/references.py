"""The papers the course relies on, and which notebook relies on which.

Each notebook's last cell lists its papers (a test checks every one is linked there), and
``docs/teaching/references.md`` lists them all with the notebooks that use them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    cite: str  # how the prose names it
    title: str  # '' where the course cites the paper by its arXiv number only
    url: str

    def markdown(self) -> str:
        if not self.title:
            return f"{self.cite}, [arXiv {self.url.rsplit('/', 1)[-1]}]({self.url})"
        return f"{self.cite}, [*{self.title}*]({self.url})"


PAPERS = {
    "r1": Paper(
        "DeepSeek-AI (2025)",
        "DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via Reinforcement Learning",
        "https://arxiv.org/abs/2501.12948",
    ),
    "deepseekmath": Paper(
        "Shao et al. (2024)",
        "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models (GRPO)",
        "https://arxiv.org/abs/2402.03300",
    ),
    "v3": Paper(
        "DeepSeek-AI (2024)", "DeepSeek-V3 Technical Report", "https://arxiv.org/abs/2412.19437"
    ),
    "ppo": Paper(
        "Schulman et al. (2017)",
        "Proximal Policy Optimization Algorithms",
        "https://arxiv.org/abs/1707.06347",
    ),
    "instructgpt": Paper(
        "Ouyang et al. (2022)",
        "Training language models to follow instructions with human feedback",
        "https://arxiv.org/abs/2203.02155",
    ),
    "codex": Paper(
        "Chen et al. (2021)",
        "Evaluating Large Language Models Trained on Code (the unbiased pass@k)",
        "https://arxiv.org/abs/2107.03374",
    ),
    "dapo": Paper(
        "Yu et al. (2025)",
        "DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
        "https://arxiv.org/abs/2503.14476",
    ),
    "drgrpo": Paper(
        "Liu et al. (2025)",
        "Understanding R1-Zero-Like Training: A Critical Perspective (Dr. GRPO)",
        "https://arxiv.org/abs/2503.20783",
    ),
    "oatzero": Paper(
        "Liu et al., Sea AI Lab (2025)",
        "There May Not be Aha Moment in R1-Zero-like Training — A Pilot Study (oat-zero)",
        "https://oatllm.notion.site/oat-zero",
    ),
    "yue": Paper(
        "Yue et al. (2025)",
        "Does Reinforcement Learning Really Incentivize Reasoning Capacity in LLMs Beyond the "
        "Base Model?",
        "https://arxiv.org/abs/2504.13837",
    ),
    "tsilivis": Paper(
        "Tsilivis et al. (2025)",
        "",
        "https://arxiv.org/abs/2510.11495",
    ),
    "backtrack": Paper(
        "Qin et al. (2025)",
        "To Backtrack or Not to Backtrack: When Sequential Search Limits Model Reasoning",
        "https://arxiv.org/abs/2504.07052",
    ),
    "sos": Paper(
        "Gandhi et al. (2024)",
        "Stream of Search (SoS): Learning to Search in Language",
        "https://arxiv.org/abs/2404.03683",
    ),
    "tinyzero": Paper(
        "Pan et al. (2025)",
        "TinyZero (R1-Zero on Countdown, code)",
        "https://github.com/Jiayi-Pan/TinyZero",
    ),
    "lora": Paper(
        "Hu et al. (2021)",
        "LoRA: Low-Rank Adaptation of Large Language Models",
        "https://arxiv.org/abs/2106.09685",
    ),
    "zero": Paper(
        "Rajbhandari et al. (2019)",
        "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
        "https://arxiv.org/abs/1910.02054",
    ),
    "recompute": Paper(
        "Korthikanti et al. (2022)",
        "Reducing Activation Recomputation in Large Transformer Models",
        "https://arxiv.org/abs/2205.05198",
    ),
    "vllm": Paper(
        "Kwon et al. (2023)",
        "Efficient Memory Management for Large Language Model Serving with PagedAttention (vLLM)",
        "https://arxiv.org/abs/2309.06180",
    ),
}

# Which papers each notebook relies on (its last cell links them).
NOTEBOOK_PAPERS = {
    "00_tour": ["r1", "deepseekmath"],
    "01_base_model": ["r1", "v3"],
    "02_sft_cold_start": ["r1"],
    "03_rollouts": ["codex", "yue"],
    "04_rewards": ["r1", "tinyzero"],
    "05_grpo_from_scratch": ["deepseekmath", "r1", "ppo", "instructgpt", "drgrpo"],
    "06_grpo_with_trl": ["deepseekmath", "drgrpo", "dapo"],
    "07_emergence": ["r1", "oatzero", "yue", "tsilivis", "backtrack", "sos", "drgrpo"],
    "08_why_rl": ["r1", "deepseekmath", "yue", "drgrpo", "dapo", "v3"],
    "09_scale_up": ["r1", "deepseekmath", "tinyzero", "zero", "lora", "recompute", "vllm"],
    "10_claims_and_evidence": [
        "r1",
        "deepseekmath",
        "yue",
        "oatzero",
        "tsilivis",
        "drgrpo",
        "dapo",
    ],
}


def papers_cell_text(notebook: str) -> str:
    """The paragraph a notebook's last cell ends with: its papers, linked."""
    items = "\n".join(f"- {PAPERS[key].markdown()}" for key in NOTEBOOK_PAPERS[notebook])
    return f"**Papers this notebook relies on:**\n\n{items}"


def references_markdown() -> str:
    """``docs/teaching/references.md``: every paper, with the notebooks that rely on it
    (written by ``r1lab references``; a test keeps it in step with this module)."""
    lines = [
        "# References",
        "",
        "Every paper the course relies on, and the notebooks that use it. Each notebook's last",
        "cell lists its own. (Written by `r1lab references` from `r1lab/references.py`.)",
        "",
    ]
    for key, paper in PAPERS.items():
        used = [nb for nb, keys in NOTEBOOK_PAPERS.items() if key in keys]
        links = ", ".join(f"[{nb}](../../notebooks/{nb}.ipynb)" for nb in used)
        lines.append(f"- {paper.markdown()} — {links}")
    return "\n".join(lines) + "\n"
