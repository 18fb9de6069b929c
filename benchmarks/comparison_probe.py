"""Where a search model's false ``ok`` comes from: after a chain computed right, ``… X vs T``,
how likely the model writes ``ok`` when X is not T, by how X relates to T.

Teacher-forced: for held-out problems of the search world the cold-start grammar writes the
whole search (every item in its order up to the solution, :func:`countdown.write_search_trace`
with search rate 1 and no patience limit); at each comparison the model's next-token
probabilities give P(ok) = P("o") / (P("o") + P("n")). No sampling, so the numbers are exact
for the problems read. Prints the mean P(ok) at the solution (X = T) and, for X ≠ T, by the
relation of X to T: the same last digit (``22 vs 12``), the same first digit of a number as
long, within 2, the same digits in another order, and by the comparison's place in the search.

    .venv/bin/python benchmarks/comparison_probe.py                      # the shipped cold start
    .venv/bin/python benchmarks/comparison_probe.py runs/some/checkpoint --problems 200
"""

from __future__ import annotations

import argparse
import collections
import random

import torch

from r1lab.data import load_eval
from r1lab.models import load, shipped_path
from r1lab.tasks import countdown
from r1lab.worlds import SEARCH


def relations(x: int, target: int, place: int) -> list[str]:
    xs, ts = str(x), str(target)
    found = ["every X ≠ T"]
    found.append("same last digit" if xs[-1] == ts[-1] else "another last digit")
    if len(xs) == len(ts) > 1:
        found.append("same first digit" if xs[0] == ts[0] else "another first digit")
    found.append("|X − T| ≤ 2" if abs(x - target) <= 2 else "|X − T| > 2")
    if sorted(xs) == sorted(ts):
        found.append("same digits, another order")
    found.append(f"item {place}" if place < 12 else "item 12 or later")
    return found


def probe(path: str, problems: int, seed: int = 0) -> tuple[list[float], dict[str, list[float]]]:
    model, tokenizer = load(path, device="cpu")
    model.eval()
    o_id, n_id = tokenizer.convert_tokens_to_ids(["o", "n"])
    rng = random.Random(seed)
    at_solution: list[float] = []
    wrong: dict[str, list[float]] = collections.defaultdict(list)
    for row in load_eval(SEARCH.eval_name, problems, chat=True):
        problem = countdown.CountdownProblem(tuple(row["numbers"]), row["target"])
        trace = countdown.write_search_trace(
            problem, rng, spec=SEARCH.spec, search_rate=1.0, patience=(64, 64)
        )
        think = trace.split("<think>", 1)[1].split("</think>", 1)[0]
        prompt = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, tokenize=False
        )
        marker, start, place = f" vs {problem.target} ", 0, 0
        while (i := think.find(marker, start)) >= 0:
            text = prompt + "<think>" + think[: i + len(marker)]
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
            with torch.no_grad():
                p = torch.softmax(model(ids).logits[0, -1], -1)
            p_ok = float(p[o_id] / (p[o_id] + p[n_id]))
            x = int(think[:i].rsplit("=", 1)[-1])
            if x == problem.target:
                at_solution.append(p_ok)
            else:
                for name in relations(x, problem.target, place):
                    wrong[name].append(p_ok)
            start, place = i + len(marker), place + 1
    return at_solution, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=str(shipped_path(SEARCH.sft_dir)))
    parser.add_argument("--problems", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    at_solution, wrong = probe(args.model, args.problems)
    print(f"{args.problems} held-out search problems, every comparison of a full search")
    print(f"{'X = T (the solution)':30s} n={len(at_solution):5d}  mean P(ok) "
          f"{sum(at_solution) / len(at_solution):.4f}")  # fmt: skip
    for name in sorted(wrong, key=lambda n: (n.startswith("item"), n)):
        values = wrong[name]
        print(f"{name:30s} n={len(values):5d}  mean P(ok) {sum(values) / len(values):.4f}")


if __name__ == "__main__":
    main()
