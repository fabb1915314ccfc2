// The review console: the marketing team's page over the product's API (docs/instagram-and-banners.md "Review console").
// Written by hand, no framework and no build step. Everything shown comes from the API; text from
// Instagram is only ever set as textContent, never parsed as HTML.
//
// config.json says where the API is and how to sign in: {"api_url": "", "auth": null} on the local run
// (same origin, no sign-in); in AWS {"api_url": "https://…", "auth": {"domain", "client_id", "scopes"}}:
// the user pool's hosted page, authorization code with PKCE, the token kept for this tab only.

const view = document.getElementById("view");
const state = { config: null, selected: 0, comments: [], stores: null, judges: null };
const DAY_MS = 86400000;

// --- small DOM helpers ---------------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function show(...children) {
  view.replaceChildren(...children);
}

function toast(message, kind = "") {
  document.querySelector(".toast")?.remove();
  const element = h("div", { class: `toast ${kind}`, role: "status" }, message);
  document.body.append(element);
  setTimeout(() => element.remove(), 4000);
}

const percent = (value) => (value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`);
const fixed = (value, digits = 2) => (value === null || value === undefined ? "—" : Number(value).toFixed(digits));
const dash = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));

// --- sign-in (AWS only): authorization code with PKCE --------------------------------------------

const TOKEN_KEY = "console.token";
const PKCE_KEY = "console.pkce";

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(length) {
  return base64url(crypto.getRandomValues(new Uint8Array(length))).slice(0, length);
}

function redirectUri() {
  return location.origin + location.pathname;
}

// Several calls may find the token missing or refused at once: they share one trip to the sign-in page.
let signingIn = null;
function signIn() {
  signingIn = signingIn || goToSignIn();
  return signingIn;
}

async function goToSignIn() {
  const { domain, client_id: clientId, scopes } = state.config.auth;
  const verifier = randomString(64);
  const nonce = randomString(24);
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, nonce, back: location.hash }));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const query = new URLSearchParams({
    response_type: "code", client_id: clientId, redirect_uri: redirectUri(), scope: scopes,
    state: nonce, code_challenge: challenge, code_challenge_method: "S256",
  });
  location.assign(`${domain}/oauth2/authorize?${query}`);
}

async function finishSignIn(code, returnedState) {
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  if (!saved || saved.nonce !== returnedState) throw new ApiError(0, "sign_in_failed", "The sign-in answer did not match this tab. Reload the page to sign in again.");
  const { domain, client_id: clientId } = state.config.auth;
  const response = await fetch(`${domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code, redirect_uri: redirectUri(), code_verifier: saved.verifier }),
  });
  if (!response.ok) throw new ApiError(response.status, "sign_in_failed", "The sign-in page refused the code. Reload the page to sign in again.");
  const token = await response.json();
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ access_token: token.access_token, expires_at: Date.now() + token.expires_in * 1000 }));
  history.replaceState(null, "", location.pathname + (saved.back || ""));
}

function accessToken() {
  const token = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
  return token && token.expires_at > Date.now() + 30000 ? token.access_token : null;
}

// --- the API -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// What to do about an error, beside the API's own message.
function advice(error) {
  if (error.code === "network") return "Check that the API is running (make local) and reload.";
  if (error.status === 403) return "Your account lacks the permission for this: ask an admin to add you to the right group (reviewers, marketers or admins).";
  if (error.status === 404) return "It may have been deleted: go back to the queue.";
  if (error.status === 503 || error.status === 504) return "A service the API depends on is unavailable: try again in a minute.";
  if (error.status >= 500) return "Try again; if it keeps failing, tell whoever runs the API.";
  return "";
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = state.config.auth ? accessToken() : null;
  if (state.config.auth && !token) {
    await signIn();
    throw new ApiError(401, "sign_in", "Signing you in…");
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(state.config.api_url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (failure) {
    throw new ApiError(0, "network", `The API at ${state.config.api_url || location.origin} did not answer (${failure.message}).`);
  }
  if (response.status === 401 && state.config.auth) {
    sessionStorage.removeItem(TOKEN_KEY);
    await signIn();
    throw new ApiError(401, "sign_in", "Your session ended: signing you in again…");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || `The API answered ${response.status}.`);
  }
  return data;
}

function errorNotice(error, retry) {
  return h("div", { class: "notice error", role: "alert" },
    h("p", {}, h("strong", {}, "Could not load this. "), error.message),
    advice(error) && h("p", {}, advice(error)),
    retry && h("p", {}, h("button", { type: "button", onclick: retry }, "Try again")));
}

// --- comments: one row, reviewed by click or key ----------------------------------------------------

function commentRow(comment, index, { showPost }) {
  const reviewed = comment.review ? comment.review.label : null;
  const button = (label, key) => h("button", {
    type: "button", class: label, "aria-pressed": reviewed === label ? "true" : "false",
    title: `Mark ${label} (${key})`, onclick: (event) => { event.stopPropagation(); select(index); review(index, label); },
  }, label === "good" ? "Good" : "Bad");
  return h("li", {
    class: `comment${index === state.selected ? " selected" : ""}`, "data-comment-id": comment.id, "data-index": index,
    onclick: () => select(index),
  },
  h("p", { class: "text", lang: "ko" }, comment.text),
  h("div", { class: "actions" }, button("good", "g"), button("bad", "b"),
    reviewed && h("button", { type: "button", title: "Clear the review (u)", onclick: (event) => { event.stopPropagation(); select(index); clearReview(index); } }, "Undo")),
  h("div", { class: "meta" },
    h("span", {}, comment.username ? `@${comment.username}` : "unknown author"),
    h("span", {}, "judge: ", comment.verdict ? h("span", { class: `label ${comment.verdict}` }, comment.verdict) : h("span", { class: "label none" }, "not judged"),
      ` ${percent(comment.confidence)}`, comment.judge ? ` · ${comment.judge}` : ""),
    h("span", { class: "reviewed" }, comment.review
      ? ["review: ", h("span", { class: `label ${comment.review.label}` }, comment.review.label), ` by ${comment.review.reviewer}`]
      : "not reviewed"),
    showPost && comment.post_id ? h("a", { href: `#/posts/${comment.post_id}` }, `post ${comment.post_id}`) : null));
}

function renderComments(list, options) {
  list.replaceChildren(...state.comments.map((comment, index) => commentRow(comment, index, options)));
  list.dataset.options = JSON.stringify(options);
}

function rerenderRow(index) {
  const list = view.querySelector(".comments");
  if (!list) return;
  const old = list.querySelector(`[data-index="${index}"]`);
  old?.replaceWith(commentRow(state.comments[index], index, JSON.parse(list.dataset.options || "{}")));
}

function select(index) {
  if (!state.comments.length) return;
  const previous = state.selected;
  state.selected = Math.max(0, Math.min(state.comments.length - 1, index));
  view.querySelector(`[data-index="${previous}"]`)?.classList.remove("selected");
  const row = view.querySelector(`[data-index="${state.selected}"]`);
  row?.classList.add("selected");
  row?.scrollIntoView({ block: "nearest" });
}

async function review(index, label) {
  const comment = state.comments[index];
  if (!comment) return;
  try {
    const updated = await api("PUT", `/comments/${comment.id}/review`, { label });
    state.comments[index] = { ...comment, ...updated };
    rerenderRow(index);
    toast(`Marked ${label}.`);
    if (index === state.selected) select(index + 1);
  } catch (error) {
    toast(`${error.message} ${advice(error)}`, "error");
  }
}

async function clearReview(index) {
  const comment = state.comments[index];
  if (!comment || !comment.review) return;
  try {
    await api("DELETE", `/comments/${comment.id}/review`);
    state.comments[index] = { ...comment, review: null, label: comment.verdict };
    rerenderRow(index);
    toast("Review cleared: the judge's verdict counts again.");
  } catch (error) {
    toast(`${error.message} ${advice(error)}`, "error");
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName)) return;
  if (!view.querySelector(".comments")) return;
  const actions = { j: () => select(state.selected + 1), k: () => select(state.selected - 1),
    g: () => review(state.selected, "good"), b: () => review(state.selected, "bad"), u: () => clearReview(state.selected) };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

// A list of comments with a "more" button while the API has a next page.
async function commentList(title, path, empty, options) {
  const heading = h("h2", {}, title);
  const list = h("ol", { class: "comments", "aria-label": title });
  const more = h("p", { class: "more" });
  state.comments = [];
  state.selected = 0;
  const load = async (cursor) => {
    const separator = path.includes("?") ? "&" : "?";
    const page = await api("GET", cursor ? `${path}${separator}cursor=${encodeURIComponent(cursor)}` : path);
    state.comments.push(...page.comments);
    renderComments(list, options);
    more.replaceChildren(page.next_cursor ? h("button", { type: "button", onclick: () => load(page.next_cursor).catch((error) => toast(error.message, "error")) }, "Show more") : "");
  };
  await load(null);
  document.getElementById("keys").hidden = !state.comments.length;
  return h("section", {}, heading, state.comments.length ? [list, more] : h("div", { class: "notice" }, empty));
}

// --- views ---------------------------------------------------------------------------------------

async function queueView() {
  return commentList("Review queue — newest comments, unreviewed first", "/comments/review-queue?limit=50",
    [h("p", {}, "No comments to review yet."),
      h("p", {}, "Comments arrive from Instagram (the webhook, or “fetch comments” on a post) and are judged; then they appear here, newest first.")],
    { showPost: true });
}

async function postsView() {
  const { posts } = await api("GET", "/instagram-posts?limit=100");
  if (!posts.length) {
    return h("section", {}, h("h2", {}, "Instagram posts"), h("div", { class: "notice" },
      h("p", {}, "No Instagram posts yet."),
      h("p", {}, "Posts are registered when the Instagram webhook delivers their first comment, or with POST /instagram-posts.")));
  }
  return h("section", {}, h("h2", {}, "Instagram posts"),
    h("ul", { class: "posts" }, posts.map((post) => h("li", {},
      h("a", { href: `#/posts/${post.id}` }, h("strong", {}, `Post ${post.id}`), ` · ${post.instagram_media_id}`,
        post.caption && h("span", { class: "caption", lang: "ko" }, post.caption))))));
}

function bannerFigure(banner) {
  return h("figure", { "data-banner-id": banner.id },
    h("img", { src: banner.image_url, alt: banner.title || `Banner ${banner.id}`, loading: "lazy", width: 1080, height: 1080 }),
    h("figcaption", { lang: "ko" }, banner.title || `Banner ${banner.id}`));
}

async function bannersSection(postId) {
  const section = h("section", { "aria-label": "Banner images" }, h("h3", {}, "Banner images"));
  const grid = h("div", { class: "banners" });
  const status = h("div", {});
  const [{ banners }, { stores }] = await Promise.all([
    api("GET", `/instagram-posts/${postId}/banner-images`),
    api("GET", "/stores?limit=200"),
  ]);
  const fill = (list) => {
    grid.replaceChildren(...list.map(bannerFigure));
    status.replaceChildren(list.length ? "" : h("div", { class: "notice" }, h("p", {}, "No banner images for this post yet: choose a store and make them from its best good comments.")));
  };
  fill(banners);
  if (!stores.length) {
    section.append(h("div", { class: "notice" }, h("p", {}, "Banner images belong to a store, and there is none yet: create one with POST /stores.")), grid);
    return section;
  }
  const storeSelect = h("select", { name: "store" }, stores.map((store) => h("option", { value: store.id }, `${store.name} (${store.id})`)));
  const countInput = h("input", { name: "count", type: "number", min: 1, max: 10, value: 3, inputmode: "numeric" });
  const make = h("button", { type: "button", class: "primary", onclick: async () => {
    make.disabled = true;
    try {
      const answer = await api("POST", `/instagram-posts/${postId}/banner-images`, { store_id: Number(storeSelect.value), count: Number(countInput.value) });
      const shown = new Map(banners.map((banner) => [banner.id, banner]));
      for (const banner of answer.banners) shown.set(banner.id, banner);
      banners.splice(0, banners.length, ...[...shown.values()].sort((a, b) => b.id - a.id));
      fill(banners);
      toast(`${answer.banners.length} banner image(s) ready.`);
    } catch (error) {
      status.replaceChildren(h("div", { class: "notice error", role: "alert" }, h("p", {}, error.message), advice(error) && h("p", {}, advice(error))));
    } finally {
      make.disabled = false;
    }
  } }, "Make banner images");
  section.append(h("div", { class: "make-banners" }, h("label", {}, "Store", storeSelect), h("label", {}, "How many", countInput), make), status, grid);
  return section;
}

async function postView(postId) {
  // The comments and the banners load side by side; one failing leaves the other usable.
  const [comments, banners] = await Promise.allSettled([
    commentList(`Post ${postId} — comments`, `/instagram-posts/${postId}/comments?limit=50`,
      [h("p", {}, "This post has no comments yet."), h("p", {}, "Fetch them from Instagram (POST /instagram-posts/{id}/comments/fetch) or wait for the webhook.")],
      { showPost: false }),
    bannersSection(postId),
  ]);
  const part = (result) => (result.status === "fulfilled" ? result.value : errorNotice(result.reason, render));
  return h("div", {}, h("p", {}, h("a", { href: "#/posts" }, "← All posts")), part(comments), part(banners));
}

function daysLeft(date) {
  if (!date) return null;
  const today = new Date();
  return Math.round((Date.parse(`${date}T00:00:00Z`) - Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate())) / DAY_MS);
}

function evaluationOf(judge) {
  const evaluation = judge.latest_evaluation;
  return evaluation && evaluation.status === "succeeded" ? evaluation : null;
}

function f1Chart(judges) {
  const points = judges.map((judge) => ({ judge, evaluation: evaluationOf(judge) }))
    .filter(({ evaluation }) => evaluation && evaluation.metrics && evaluation.metrics.f1_good !== null && evaluation.cost && evaluation.cost.usd_per_1000_comments !== null && evaluation.cost.usd_per_1000_comments !== undefined);
  if (!points.length) return h("div", { class: "notice" }, h("p", {}, "The chart of F1 against cost needs judges with a finished evaluation and prices: set prices on the judges and run POST /evaluations."));
  const narrow = window.matchMedia("(max-width: 40rem)").matches;
  const width = narrow ? 360 : 640, height = narrow ? 260 : 300, left = 48, right = 16, top = 16, bottom = 40;
  const maxCost = Math.max(...points.map((point) => point.evaluation.cost.usd_per_1000_comments)) * 1.15 || 1;
  const minF1 = Math.min(0.5, ...points.map((point) => point.evaluation.metrics.f1_good));
  const x = (cost) => left + (cost / maxCost) * (width - left - right);
  const y = (f1) => top + (1 - (f1 - minF1) / (1 - minF1 || 1)) * (height - top - bottom);
  const svgNs = "http://www.w3.org/2000/svg";
  const s = (tag, attributes, text) => {
    const element = document.createElementNS(svgNs, tag);
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
    if (text !== undefined) element.textContent = text;
    return element;
  };
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "F1 for good comments against USD per 1,000 comments" });
  svg.append(s("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }),
    s("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }),
    s("text", { x: width - right, y: height - 8, "text-anchor": "end" }, "USD per 1,000 comments →"),
    s("text", { x: 4, y: top + 4 }, "F1"));
  for (const tick of [0, 0.5, 1]) svg.append(s("text", { x: x(maxCost * tick / 1.15), y: height - bottom + 16, "text-anchor": "middle" }, (maxCost * tick / 1.15).toFixed(3)));
  for (const tick of [minF1, (minF1 + 1) / 2, 1]) svg.append(s("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, tick.toFixed(2)));
  for (const { judge, evaluation } of points) {
    const cx = x(evaluation.cost.usd_per_1000_comments), cy = y(evaluation.metrics.f1_good);
    svg.append(s("circle", { class: `point${judge.status === "active" ? " active" : ""}`, cx, cy, r: 6, "data-judge": judge.name }),
      // Names stay inside the chart: left of points in its right half.
      s("text", { class: "name", x: cx > width / 2 ? cx - 9 : cx + 9, y: cy + 4, "text-anchor": cx > width / 2 ? "end" : "start" }, judge.name));
  }
  return h("figure", { class: "chart", "aria-label": "F1 against cost" }, svg);
}

async function judgesView() {
  const [{ judges }, agreement] = await Promise.all([
    api("GET", "/judges"),
    api("GET", "/reviews/agreement").catch((error) => ({ error })),
  ]);
  state.judges = judges;
  renderActiveJudge(judges);
  if (!judges.length) {
    return h("section", {}, h("h2", {}, "Judges"), h("div", { class: "notice" },
      h("p", {}, "No judges yet."), h("p", {}, "Create one with POST /judges (a fine-tuned model, a prompted chat model or a classifier), then evaluate it on a golden set.")));
  }
  const headings = ["Judge", "Status", "F1", "Precision", "USD / 1,000", "p50 ms", "Model", "Shuts down", "Model status", "F1 vs reviewers"];
  const agreed = new Map((agreement.judges || []).map((row) => [row.judge_id, row]));
  const rows = judges.map((judge) => {
    const evaluation = evaluationOf(judge);
    const metrics = evaluation ? evaluation.metrics : {};
    const people = agreed.get(judge.id);
    const cells = [
      judge.name,
      judge.status,
      fixed(metrics.f1_good),
      fixed(metrics.precision_good),
      evaluation && evaluation.cost ? fixed(evaluation.cost.usd_per_1000_comments, 4) : "—",
      evaluation && evaluation.latency_ms ? dash(evaluation.latency_ms.p50) : "—",
      dash(judge.model),
      dash(judge.model_shutdown_date),
      dash(judge.model_status),
      people && people.reviewed ? `${fixed(people.f1_good)} (${people.reviewed})` : "—",
    ];
    return h("tr", { class: judge.status === "active" ? "active" : "", "data-judge": judge.name },
      cells.map((text, column) => h("td", {
        "data-label": headings[column],
        class: column === 8 && judge.model_status ? `status-${judge.model_status}` : null,
      }, text)));
  });
  return h("section", {}, h("h2", {}, "Judges side by side"),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col" }, text)))), h("tbody", {}, rows))),
    h("p", { class: "caption" }, "F1 and precision for good comments on the latest finished evaluation; “F1 vs reviewers” compares the judge with people's reviews (reviewed comments in brackets)."),
    agreement.error ? h("p", {}, `Agreement with reviewers is not available: ${agreement.error.message}`) : null,
    f1Chart(judges));
}

function renderActiveJudge(judges) {
  const element = document.getElementById("active-judge");
  const active = judges.find((judge) => judge.status === "active");
  if (!active) {
    element.className = "active-judge";
    element.replaceChildren("No active judge: comments wait until one is activated.");
    return;
  }
  const days = daysLeft(active.model_shutdown_date);
  element.className = `active-judge ${active.model_status || ""}`;
  const left = days === null ? [h("span", { class: "days" }, "shutdown date —")]
    : days < 0 ? [h("span", { class: "days" }, `model shut down on ${active.model_shutdown_date}`)]
      : [h("span", { class: "days" }, `${days} days left`), ` (model shuts down ${active.model_shutdown_date})`];
  element.replaceChildren(`Active judge ${active.name}: `, ...left);
}

async function loadActiveJudge() {
  try {
    renderActiveJudge((await api("GET", "/judges")).judges);
  } catch (error) {
    // Reviewers without the admin scope cannot list judges; the rest of the page still works.
    if (error.code === "sign_in") return;
    document.getElementById("active-judge").replaceChildren(error.status === 403 ? "" : `Active judge unknown: ${error.message}`);
  }
}

const routes = [
  [/^#?\/?(queue)?$/, "queue", () => queueView()],
  [/^#\/posts$/, "posts", () => postsView()],
  [/^#\/posts\/(\d+)$/, "posts", (match) => postView(Number(match[1]))],
  [/^#\/judges$/, "judges", () => judgesView()],
];

let rendering = 0;
async function render() {
  const hash = location.hash || "#/queue";
  const route = routes.find(([pattern]) => pattern.test(hash));
  document.getElementById("keys").hidden = true;
  if (!route) {
    show(h("div", { class: "notice" }, h("p", {}, "There is no such page. "), h("a", { href: "#/queue" }, "Go to the review queue")));
    return;
  }
  const [pattern, section, build] = route;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const ticket = ++rendering;
  show(h("p", { class: "loading" }, "Loading…"));
  try {
    const content = await build(hash.match(pattern));
    if (ticket === rendering) show(content);
  } catch (error) {
    if (error.code === "sign_in") return; // on the way to the sign-in page: this page is not ready
    if (ticket === rendering) show(errorNotice(error, render));
  }
  if (ticket === rendering) document.body.dataset.ready = section;
}

async function start() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (!response.ok) throw new ApiError(response.status, "no_config", "The console's config.json is missing: publish the console with its configuration (see the section Review console of docs/instagram-and-banners.md).");
    state.config = await response.json();
    const query = new URLSearchParams(location.search);
    if (state.config.auth && query.get("code")) await finishSignIn(query.get("code"), query.get("state"));
  } catch (error) {
    show(errorNotice(error instanceof ApiError ? error : new ApiError(0, "no_config", error.message), () => location.reload()));
    return;
  }
  window.addEventListener("hashchange", render);
  await Promise.all([render(), loadActiveJudge()]);
}

start();
