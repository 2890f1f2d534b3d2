"""Value understanding (ValueDCG, Zhang et al. 2023, arXiv 2310.00378): does a model recognise that a text
reflects a human value ("know what") and can it explain why ("know why")?  The difference between the two
is the discriminator-critique gap.

    accord values run --model qwen2.5-coder-0.5b --judge qwen2.5-coder-1.5b --values all --limit 50 --out runs/v
    accord values validate-judge --run runs/v
    accord values report runs/v

Modules: protocols (the paper's and accord's prompts and settings, as data), definitions (the values, their
definitions and accord's label -> answer mapping), data (CSV loader), know_what (few-shot A/B/C questions
scored by constrained choice), know_why (accord: three generated parts rated 1-5), know_why_paper (paper:
one three-part answer rated 0-5 per part), validate (known-answer check of the know-why judge), metrics
(accuracy, macro-F1, ECE), run (resumable runner), report.
"""
