"""A trained language model with its tokenizer, and every tool on it: sampling, beam search,
fill-in-the-blank, scoring, sentence vectors.

``LM`` bundles a model with its tokenizer (the vocabulary hash is checked) and mirrors the CLI::

    lm = LM.load("RUN")
    lm.generate("吾輩は", beam=4)                    # the 4 best continuations
    lm.fill("武田信玄は、[MASK]時代ファンなら…")      # every [MASK] filled
    lm.score(["現在も行方不明のまま。"])              # natural-log probabilities
    lm.vectorize(["吾輩は猫である。"])                # hidden states, concatenated over layers

Every method accepts text or token ids.  Inference routes every token to its expert (no capacity
cut), so a result never depends on the other inputs of a batch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from swelm.checks import number

from .inference import (Generation, InputError, check_length, decode, filter_logits,
                        free_memory, is_dense, layer_sizes, layout_ids, load, model_device,
                        penalize_repeats, spout_vector)

MASK = "[MASK]"


@dataclass
class Filled:
    text: str                        # the context with every mask replaced
    tokens: list[list[str]]          # per mask, the tokens put there
    ids: list[list[int]]
    scores: list[list[float]]        # per mask, the log-probability of each token when chosen


@dataclass
class Scored:
    text: str
    total: float                     # natural-log probability of the line
    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)


def _new_tokens(model, n_input: int, spout, max_new_tokens: int) -> int:
    """The new tokens there is room for after ``n_input`` tokens: ``max_new_tokens``, or
    fewer, said on the log (``swelm.generate``), when the model's context ends first (as
    transformers warns past a model's maximum length)."""
    room = check_length(model, n_input, spout is not None)
    if max_new_tokens > room:
        logging.getLogger("swelm.generate").warning(
            "max_new_tokens %d: the input is %d tokens and the model's context (n_ctx %d) "
            "leaves room for %d new ones; generating at most %d", max_new_tokens, n_input,
            model.cfg.n_ctx, room, room)
    return min(max_new_tokens, room)


class LM:
    def __init__(self, model, enc) -> None:
        self.model, self.enc, self.cfg = model, enc, model.cfg
        self.device = model_device(model)
        self.dense = is_dense(model)

    @classmethod
    def load(cls, path: str, device: str | None = None, vocabulary: str | None = None,
             emoji: str | None = None) -> "LM":
        return cls(*load(path, device, vocabulary, emoji))

    # ------------------------------------------------------------------ helpers
    def _ids(self, text_or_ids) -> list[int]:
        if isinstance(text_or_ids, str):
            return self.enc.encode(text_or_ids)
        ids = [int(t) for t in text_or_ids]
        if ids and (min(ids) < 0 or max(ids) >= self.cfg.vocab_size):
            raise InputError(f"token ids must be in 0..{self.cfg.vocab_size - 1}")
        return ids

    def _check_rows(self, rows: int, what: str, tokens: int, prompt: int = 0) -> None:
        """Refuse ``rows`` sequences of ``tokens`` (beams or samples, decoded together) that
        the device's free memory cannot hold (one clear error instead of the kernel's
        out-of-memory kill).  The estimate, from the model's sizes: the KV cache (twice: a
        beam step reorders it into a copy), a dozen vocabulary-wide float32 temporaries per
        step (logits, log-probabilities, candidate scores, top-k/top-p sorting; measured on
        CPU at 8 for beams and 11 for samples), and the first pass over a ``prompt`` of
        tokens (feed-forward activations and attention scores)."""
        per_row = self.row_bytes(tokens, prompt)
        need = rows * per_row
        free = free_memory(self.device)
        if free is not None and need > 0.8 * free:
            raise InputError(f"{what} {rows}: about {need / 2**30:.1f} GiB for {rows} rows of "
                             f"{tokens} tokens ({per_row / 2**20:.1f} MiB each), and "
                             f"{free / 2**30:.1f} GiB is free on {self.device}; at most "
                             f"{max(1, int(0.8 * free // per_row))} fit")

    def row_bytes(self, tokens: int, prompt: int = 0) -> int:
        """The memory one decoded row of ``tokens`` needs (see :meth:`_check_rows`)."""
        cfg = self.cfg
        layers, hidden = layer_sizes(cfg)
        width = next(self.model.parameters()).element_size()
        return (3 * 2 * layers * tokens * cfg.d_model * width + 12 * cfg.vocab_size * 4
                + prompt * (hidden + 8 * cfg.d_model) * 4 + 2 * cfg.n_head * prompt ** 2 * 4)

    def _nonempty(self, context, what: str = "context") -> list[int]:
        ids = self._ids(context)
        if not ids:
            raise InputError(f"empty {what}: give some text")
        return ids

    def token_text(self, i: int) -> str:
        return self.enc.id_to_token(int(i))

    # ------------------------------------------------------------------ generation
    def generate(self, context, *, prefix=None, beam: int = 0, num_samples: int = 1,
                 max_new_tokens: int = 100, min_new_tokens: int = 0, top_k: int = 0,
                 top_p: float = 1.0, temperature: float = 1.0, seed: int = 0,
                 spout: int | None = None, length_penalty: float = 1.0,
                 repetition_penalty: float = 1.0):
        """Samples (``beam`` 0, :meth:`sample`; ``temperature`` 0: greedy) or the ``beam``
        best beams, best first (:meth:`beam_search`); either way a list of
        :class:`Generation`."""
        ctx = self._nonempty(context) if prefix is None else self._ids(context)
        pre = None if prefix is None else self._nonempty(prefix, "prefix")
        if beam:
            return self.beam_search(ctx, prefix=pre, beam=beam, max_new_tokens=max_new_tokens,
                                    min_new_tokens=min_new_tokens, spout=spout,
                                    length_penalty=length_penalty,
                                    repetition_penalty=repetition_penalty)
        return self.sample(ctx, prefix=pre, max_new_tokens=max_new_tokens,
                           min_new_tokens=min_new_tokens, top_k=top_k, top_p=top_p,
                           temperature=temperature, num_samples=num_samples, seed=seed,
                           spout=spout, repetition_penalty=repetition_penalty)

    @torch.no_grad()
    def sample(self, context="", *, prefix=None, max_new_tokens: int = 100,
               min_new_tokens: int = 0, top_k: int = 0, top_p: float = 1.0,
               temperature: float = 1.0, num_samples: int = 1, seed: int = 0,
               spout: int | None = None, use_cache: bool = True,
               repetition_penalty: float = 1.0) -> list[Generation]:
        """``num_samples`` continuations of ``context`` (text or token ids): KV cache, top-k,
        top-p, temperature (0: greedy), transformers' repetition penalty, min/max new tokens,
        stop at ``<|endoftext|>``, a spout class, a bidirectional ``prefix``.  Each result's
        score is its summed log-probability (the model's, before any penalty)."""
        number(max_new_tokens, "max_new_tokens", minimum=1, integer=True, error=InputError)
        number(min_new_tokens, "min_new_tokens", minimum=0, integer=True, error=InputError)
        number(top_k, "top_k", minimum=0, integer=True, error=InputError)
        number(top_p, "top_p", minimum=0, maximum=1, exclusive=True, error=InputError)
        number(temperature, "temperature", minimum=0, error=InputError)
        number(num_samples, "num_samples", minimum=1, integer=True, error=InputError)
        model, cfg = self.model, self.cfg
        ids, npc = layout_ids(model, self.enc, context, prefix)
        max_new = _new_tokens(model, len(ids), spout, max_new_tokens)
        self._check_rows(num_samples, "num_samples", len(ids) + max_new, len(ids))
        dev = self.device
        B = num_samples
        x = torch.tensor([ids] * B, device=dev)
        sp = spout_vector(model, spout, B)
        gen = torch.Generator(device=dev).manual_seed(seed)
        eot = cfg.token("endoftext")
        cache = model.new_cache(B, spout=sp) if use_cache else None
        out_ids = torch.empty(B, 0, dtype=torch.long, device=dev)
        out_lp = torch.empty(B, 0, device=dev)
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        step_in = x
        for i in range(max_new):
            if use_cache:
                logits = model(step_in, num_precontext=npc if i == 0 else None, cache=cache,
                               last_only=True).logits[:, -1].float()
            else:
                full = torch.cat([x, out_ids], 1)
                logits = model(full, num_precontext=npc, spout=sp, last_only=True).logits[:, -1]
                logits = logits.float()
            logp = logits.log_softmax(-1)
            logits = penalize_repeats(logits, torch.cat([x, out_ids], 1), repetition_penalty)
            if i < min_new_tokens:
                logits[:, eot] = float("-inf")
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
                nxt = torch.multinomial(probs, 1, generator=gen)[:, 0]
            nxt = torch.where(done, torch.full_like(nxt, eot), nxt)
            out_lp = torch.cat([out_lp, logp.gather(1, nxt[:, None])], 1)
            out_ids = torch.cat([out_ids, nxt[:, None]], 1)
            done |= nxt == eot
            if bool(done.all()):
                break
            step_in = nxt[:, None]
        samples = []
        for b in range(B):
            row = out_ids[b].tolist()
            n = row.index(eot) + 1 if eot in row else len(row)
            lp = out_lp[b, :n].tolist()
            samples.append(Generation(row[:n], lp, decode(self.enc, row[:n], cfg), float(sum(lp))))
        return samples

    @torch.no_grad()
    def beam_search(self, context, *, prefix=None, beam: int = 4, max_new_tokens: int = 50,
                    min_new_tokens: int = 0, spout: int | None = None,
                    length_penalty: float = 1.0,
                    repetition_penalty: float = 1.0) -> list[Generation]:
        """Beam search over new tokens; hypotheses end at ``<|endoftext|>`` or at
        ``max_new_tokens``; ranked by summed log-probability / length ** ``length_penalty``
        (the log-probabilities after transformers' ``repetition_penalty``, as its beam search
        does)."""
        if beam < 1:
            raise InputError("beam must be at least 1")
        model, cfg = self.model, self.cfg
        ids, npc = layout_ids(model, self.enc, self._ids(context),
                              None if prefix is None else self._ids(prefix))
        max_new = _new_tokens(model, len(ids), spout, max_new_tokens)
        self._check_rows(beam, "beam", len(ids) + max_new)
        eot = cfg.token("endoftext")
        N = beam
        sp = spout_vector(model, spout, 1)
        cache = model.new_cache(1, spout=sp)
        logits = model(torch.tensor([ids], device=self.device), num_precontext=npc, cache=cache,
                       last_only=True).logits[:, -1].float()
        cache.reorder(torch.zeros(N, dtype=torch.long, device=self.device))
        logp = logits.log_softmax(-1).expand(N, -1)
        scores = torch.full((N,), float("-inf"), device=self.device)
        scores[0] = 0.0                                  # only one live beam at the start
        seqs: list[list[int]] = [[] for _ in range(N)]
        lps: list[list[float]] = [[] for _ in range(N)]
        finished: list[tuple[float, list[int], list[float]]] = []
        reached_max = False
        norm = lambda total, n: total / (max(1, n) ** length_penalty)  # noqa: E731
        for step in range(max_new):
            seen = torch.tensor([ids + s for s in seqs], device=self.device)
            logp = penalize_repeats(logp, seen, repetition_penalty)
            if step < min_new_tokens:
                logp = logp.clone()
                logp[:, eot] = float("-inf")
            cand = (scores[:, None] + logp).view(-1)
            top = torch.topk(cand, 2 * N)
            V = logp.shape[-1]
            nxt_rows, nxt_tok, nxt_score = [], [], []
            for s, flat in zip(top.values.tolist(), top.indices.tolist()):
                if s == float("-inf"):
                    break
                row, tok = divmod(flat, V)
                lp = float(logp[row, tok])
                if tok == eot:
                    finished.append((norm(s, len(seqs[row]) + 1), seqs[row] + [tok],
                                     lps[row] + [lp]))
                else:
                    nxt_rows.append(row)
                    nxt_tok.append(tok)
                    nxt_score.append(s)
                if len(nxt_rows) == N:
                    break
            finished.sort(key=lambda f: -f[0])
            finished = finished[:N]
            if not nxt_rows:                             # every candidate ended
                break
            best_live = max(nxt_score) / ((step + 1) ** length_penalty)
            if len(finished) == N and finished[-1][0] >= best_live:
                break                                    # no live beam can win any more
            while len(nxt_rows) < N:                     # fewer candidates than beams
                nxt_rows.append(nxt_rows[0])
                nxt_tok.append(nxt_tok[0])
                nxt_score.append(float("-inf"))
            seqs = [seqs[r] + [t] for r, t in zip(nxt_rows, nxt_tok)]
            lps = [lps[r] + [float(logp[r, t])] for r, t in zip(nxt_rows, nxt_tok)]
            scores = torch.tensor(nxt_score, device=self.device)
            if step == max_new - 1:
                reached_max = True
                break
            cache.reorder(torch.tensor(nxt_rows, device=self.device))
            logits = model(torch.tensor(nxt_tok, device=self.device)[:, None], cache=cache,
                           last_only=True).logits[:, -1].float()
            logp = logits.log_softmax(-1)
        live = [(norm(float(scores[i]), len(seqs[i])), seqs[i], lps[i]) for i in range(N)
                if reached_max and scores[i] > float("-inf")]
        pool = sorted(finished + live, key=lambda f: -f[0])
        out, seen = [], set()
        for sc, s, lp in pool:
            if tuple(s) in seen:
                continue
            seen.add(tuple(s))
            out.append(Generation(s, lp, decode(self.enc, s, cfg), sc))
            if len(out) == N:
                break
        return out

    # ------------------------------------------------------------------ fill-in-the-blank
    @torch.no_grad()
    def fill(self, context, *, mask_tokens: int = 1, mask: str = MASK) -> Filled:
        """Fill every ``[MASK]`` (each stands for ``mask_tokens`` tokens; repeat ``[MASK]`` for
        more) with the hybrid/MLM model, most confident position first.  Text outside the masks
        is returned unchanged."""
        number(mask_tokens, "mask_tokens", minimum=1, integer=True, error=InputError)
        if self.dense:
            raise InputError("a gpt2 model is an LM only: it was not trained to fill masks (no "
                             "bidirectional prefix, no <|inputmask|> token); fill needs a "
                             "Switch-LM trained with --mode hybrid or mlm")
        cfg = self.cfg
        m_id = cfg.token("inputmask")
        if isinstance(context, str):
            if not context.strip():
                raise InputError("empty context: give a text with [MASK] in it")
            parts = context.split(mask)
            if len(parts) == 1:
                raise InputError(f"no {mask} in the context: nothing to fill")
            pieces = [self.enc.encode(p) if p else [] for p in parts]
            prefix: list[int] = []
            for i, p in enumerate(pieces):
                prefix += p
                if i < len(pieces) - 1:
                    prefix += [m_id] * mask_tokens
        else:
            prefix, parts = self._ids(context), None
            if m_id not in prefix:
                raise InputError("no <|inputmask|> token in the context: nothing to fill")
        ids, npc = layout_ids(self.model, self.enc, [], prefix)
        check_length(self.model, len(ids), False)
        x = torch.tensor([ids], device=self.device)
        holes = [i for i, t in enumerate(ids) if t == m_id]
        banned = torch.tensor(sorted(cfg.special.values()), device=self.device)
        chosen: dict[int, tuple[int, float]] = {}
        while len(chosen) < len(holes):
            logits = self.model(x, num_precontext=npc).logits[0].float()
            logp = logits.log_softmax(-1)
            logp[:, banned] = float("-inf")
            best = None
            for h in holes:
                if h in chosen:
                    continue
                lp, tok = logp[h - 1].max(-1)            # position h−1 predicts token h
                if best is None or float(lp) > best[2]:
                    best = (h, int(tok), float(lp))
            h, tok, lp = best
            chosen[h] = (tok, lp)
            x[0, h] = tok
        groups: list[list[int]] = []
        for h in holes:
            if groups and h == groups[-1][-1] + 1 and len(groups[-1]) < mask_tokens:
                groups[-1].append(h)
            else:
                groups.append([h])
        ids_per = [[chosen[h][0] for h in g] for g in groups]
        scores = [[chosen[h][1] for h in g] for g in groups]
        if parts is not None:
            text = parts[0]
            for k, fill in enumerate(ids_per):
                text += self.enc.decode(fill) + parts[k + 1]
        else:
            text = decode(self.enc, x[0, 1:npc].tolist(), cfg)
        return Filled(text, [[self.token_text(t) for t in g] for g in ids_per], ids_per, scores)

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score(self, lines, *, exclude_end: bool = False, batch_size: int = 16,
              stride: int | None = None) -> list[Scored]:
        """Per line, the natural-log probability of its tokens (and of ``<|endoftext|>`` after
        them unless ``exclude_end``), each token conditioned on the ones before it.  Lines longer
        than the model's context are scored in overlapping windows: every token is scored once,
        with at least ``stride`` tokens of context (default: half the window)."""
        number(batch_size, "batch_size", minimum=1, integer=True, error=InputError)
        cfg = self.cfg
        eot = cfg.token("endoftext")
        if self.dense:          # bos w… (causal)
            head, pad, npc = [cfg.bos_id], eot, None
        else:                   # <|startoftext|> <|segmenter|> w… (the start is the prefix)
            head, pad, npc = [cfg.token("startoftext"), cfg.token("segmenter")], \
                cfg.token("nottoken"), 1
        H = len(head)
        W = cfg.n_ctx - H
        keep = stride if stride is not None else W // 2
        if not 0 <= keep < W:
            raise InputError(f"stride must be in 0..{W - 1}")
        toks = []
        for line in lines:
            t = self._ids(line)
            toks.append(t if exclude_end else t + [eot])
        # windows: (line, first scored index, tokens of the window after [SOT, SEG])
        windows = []
        for li, t in enumerate(toks):
            i = 0
            while i < len(t):
                start = max(0, i - keep) if i else 0
                end = min(len(t), start + W)
                windows.append((li, i - start, start, t[start:end]))
                i = end
        per_token = [np.zeros(len(t)) for t in toks]
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][3]))
        for b in range(0, len(order), batch_size):
            group = [windows[w] for w in order[b:b + batch_size]]
            L = max(len(g[3]) for g in group) + H
            x = torch.full((len(group), L), pad, dtype=torch.long)
            for r, (_, _, _, w) in enumerate(group):
                x[r, :len(w) + H] = torch.tensor(head + w)
            logp = self.model(x.to(self.device), num_precontext=npc).logits.float().log_softmax(-1)
            for r, (li, skip, start, w) in enumerate(group):
                tgt = torch.tensor(w, device=self.device)
                # the last head position predicts w[0], position k + H − 1 predicts w[k]
                lp = logp[r, H - 1:H - 1 + len(w)].gather(1, tgt[:, None])[:, 0].cpu().numpy()
                per_token[li][start + skip:start + len(w)] = lp[skip:]
        out = []
        for line, t, lp in zip(lines, toks, per_token):
            text = line if isinstance(line, str) else self.enc.decode(t)
            out.append(Scored(text, float(lp.sum()), [self.token_text(i) for i in t],
                              lp.tolist()))
        return out

    # ------------------------------------------------------------------ sentence vectors
    @torch.no_grad()
    def vectorize(self, contexts, *, pos: int | None = None, layers: str = "all",
                  batch_size: int = 16) -> np.ndarray:
        """One vector per context: the hidden state at token position ``pos`` (0-based over the
        context's tokens, negative from the end; default: the position after the last token,
        i.e. the ``<|segmenter|>`` that follows the context given as a bidirectional prefix; for
        a causal gpt2 model the last token, the one position that has seen the whole text),
        concatenated over every layer (``layers='all'``: n_layers × d_model values) or from the
        last layer only (``'last'``: d_model values)."""
        number(batch_size, "batch_size", minimum=1, integer=True, error=InputError)
        if layers not in ("all", "last"):
            raise InputError("layers must be 'all' or 'last'")
        cfg = self.cfg
        if isinstance(contexts, str) or (contexts and isinstance(contexts[0], int)):
            contexts = [contexts]
        rows = []
        for c in contexts:
            ids = self._nonempty(c)
            if self.dense:
                full, npc = layout_ids(self.model, self.enc, ids)
            else:
                full, npc = layout_ids(self.model, self.enc, [], ids)
            check_length(self.model, len(full) - 1, False)
            if pos is None:
                at = len(full) - 1
            else:
                if not -len(ids) <= pos < len(ids):
                    raise InputError(f"--pos {pos}: the context has {len(ids)} tokens")
                at = 1 + (pos % len(ids))
            rows.append((full, npc, at))
        out = []
        pad = cfg.token("endoftext" if self.dense else "nottoken")
        for b in range(0, len(rows), batch_size):
            group = rows[b:b + batch_size]
            L = max(len(f) for f, _, _ in group)
            x = torch.full((len(group), L), pad, dtype=torch.long)
            for r, (f, _, _) in enumerate(group):
                x[r, :len(f)] = torch.tensor(f)
            npc = None if self.dense else torch.tensor([n for _, n, _ in group],
                                                        device=self.device)
            hs = self.model(x.to(self.device), num_precontext=npc,
                            output_hidden_states=True).hidden_states
            if layers == "last":
                hs = hs[-1:]
            for r, (_, _, at) in enumerate(group):
                out.append(torch.cat([h[r, at] for h in hs]).float().cpu().numpy())
        return np.stack(out)


__all__ = ["LM", "Generation", "Filled", "Scored", "MASK"]
