"""Value understanding (ValueDCG, Zhang et al. 2023, arXiv 2310.00378): does a model recognise that a text
reflects a human value ("know what") and can it explain why ("know why")?  The difference between the two
is the discriminator-critique gap.

    accord values run --model qwen2.5-coder-0.5b --judge qwen2.5-coder-1.5b --values all --limit 50 --out runs/v
    accord values report runs/v

Modules: definitions (the values, their definitions and the label -> answer mapping), data (CSV loader),
know_what (few-shot A/B/C questions scored by constrained choice), know_why (three-part explanations
rated 1-5 by a judge), metrics (accuracy, macro-F1, ECE, bootstrap), run (resumable runner), report.
"""
