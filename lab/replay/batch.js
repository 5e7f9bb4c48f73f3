// Evaluated by lab/replay/engine.py once per page state: every candidate of every click target
// on this page in one round trip. Needs generator.js (globalThis.codesightSelectors) in the page.
//
// Ground truth: on fixture sites the target carries data-lab-id. Only this harness reads it;
// the generator never does. Without it, the reference element is the one the fingerprint
// alone resolves to (resolve with no candidates), so correctness is judged by the fingerprint.
//
// Baseline selectors (other generators' output, for benchmarks) are evaluated here too, with
// the same query engine, so they get the same reach into open shadow roots as ours.
async ({ targets, settleMs, quietMs }) => {
  const api = globalThis.codesightSelectors;
  if (!api || typeof api.query !== "function" || typeof api.pick !== "function") {
    throw new Error("globalThis.codesightSelectors is missing: generator.js was not injected into " + location.href);
  }

  const deepQueryAll = (selector) => {
    const found = [];
    const visit = (root) => {
      found.push(...root.querySelectorAll(selector));
      for (const el of root.querySelectorAll("*")) {
        if (el.shadowRoot) visit(el.shadowRoot);
      }
    };
    visit(document);
    return found;
  };

  const references = (target) => {
    if (target.lab_id !== null) {
      return deepQueryAll(`[data-lab-id="${CSS.escape(target.lab_id)}"]`);
    }
    const picked = api.resolve({ candidates: [], fingerprint: target.fingerprint });
    return picked ? [picked] : [];
  };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Targets may be created by the page's own scripts after load: wait (bounded) until every
  // expected target's reference element is attached, so a slow script is not mistaken for a
  // broken selector. A page whose DOM stayed quiet for quietMs is done building: a target still
  // missing then is not coming (this page state lacks what an earlier step built).
  const started = performance.now();
  const deadline = started + settleMs;
  let lastMutation = started;
  const observer = new MutationObserver(() => { lastMutation = performance.now(); });
  observer.observe(document, { childList: true, subtree: true, attributes: true });
  while (document.readyState !== "complete" && performance.now() < deadline) await sleep(25);
  let refs = targets.map(references);
  const missing = () => refs.some((r, i) => r.length === 0 && targets[i].expect_present);
  while (missing() && performance.now() < deadline && performance.now() - lastMutation < quietMs) {
    await sleep(40);
    refs = targets.map(references);
  }
  observer.disconnect();

  // A target that is attached but not rendered (closed dialog, nav hidden on phones) cannot be
  // clicked in this page state, so it counts as not found.
  const rendered = (el) =>
    typeof el.checkVisibility === "function"
      ? el.checkVisibility({ visibilityProperty: true })
      : el.getClientRects().length > 0;
  const isTarget = (el, targetRefs) => el !== null && el !== undefined && targetRefs.includes(el);

  const judge = (candidate, index, targetRefs) => {
    let matches = [];
    let error = null;
    try {
      matches = Array.from(api.query(candidate) ?? []);
    } catch (e) {
      error = String((e && e.message) || e);
    }
    return {
      index,
      matched_count: matches.length,
      correct: matches.length === 1 && isTarget(matches[0], targetRefs),
      error,
    };
  };

  return targets.map((target, t) => {
    const targetRefs = refs[t];
    // With ground truth an empty lookup means the target is not on the page; without it we cannot tell.
    const found = targetRefs.some(rendered) ? true : target.lab_id !== null ? false : null;
    const expectNothing = found !== true && !target.expect_present;
    const candidates = target.candidates.map((c, i) => judge(c, i, targetRefs));
    const baselines = target.baselines.map((c, i) => judge(c, i, targetRefs));
    const picked = api.pick({ candidates: target.candidates, fingerprint: target.fingerprint });
    const resolved = picked.element;
    const verdict = (el) => (expectNothing ? el === null || el === undefined : isTarget(el, targetRefs));
    const pick = resolved === null || resolved === undefined ? "none" : isTarget(resolved, targetRefs) ? "target" : "other";
    // Relocating by fingerprint alone scans the page, so it is done only when it can decide
    // something: no candidate matched exactly one element, or none matched the target.
    const fingerprintDecides = !candidates.some((c) => c.matched_count === 1) || (found === true && !candidates.some((c) => c.correct));
    let fingerprintCorrect = null;
    if (target.lab_id === null) fingerprintCorrect = verdict(targetRefs[0] ?? null);
    else if (fingerprintDecides) fingerprintCorrect = verdict(api.resolve({ candidates: [], fingerprint: target.fingerprint }));
    return {
      target_found: found,
      resolved_correct: verdict(resolved),
      fingerprint_correct: fingerprintCorrect,
      pick,
      pick_via: picked.via,
      candidates,
      baselines,
    };
  });
}
