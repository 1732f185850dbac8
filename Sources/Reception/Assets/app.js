// The reception counter page. Every state comes from jpki-reception's /api (itself a client of
// jpkid); live changes come from jpkid's events (EventSource), never from polling.
// Rules kept here: a panel shows only the data of the card session it is bound to (every answer
// is checked against the panel's current session before it is shown); a removed or replaced card
// clears the panel at once; the PIN lives in a local array only, is shown as dots, is never put
// in the DOM, a URL or storage, and is dropped as soon as it was sent.
"use strict";

const TEXT = {
  ja: {
    title: "マイナ保険証 受付", lang: "English", reader: "カードリーダー",
    waiting: "マイナンバーカードをカードリーダーに置いてください",
    nextWaiting: "次の方のカードを置いてください（前のカードは取り出してください）",
    reading: "カードを読み取っています…",
    cardType: "カードの種類", certExpiry: "電子証明書の有効期限", pinTries: "暗証番号の残り回数",
    expiresSoon: "3か月以内に有効期限が切れます。市区町村での更新をご案内ください",
    expired: "電子証明書の有効期限が切れています",
    times: "回", blocked: "ロック中",
    chooseMode: "確認方法を選んでください", modePin: "暗証番号", modeVisual: "目視確認",
    pinBlockedOffer: "暗証番号がロックされています。目視確認で受付できます",
    noPinOffer: "暗証番号のないカード（顔認証マイナンバーカード）です。目視確認で受付できます",
    enterPin: "患者さんに 4 桁の暗証番号を入力していただいてください",
    enterKey: "カード表面の 照合番号B（生年月日6桁・有効期限の西暦4桁・セキュリティコード4桁）を入力してください",
    send: "確定", clear: "訂正", cancel: "やめる", back: "戻る",
    lastTry: "残り 1 回です。間違えると暗証番号がロックされます。本当に送信しますか？",
    lastTrySend: "送信する",
    wrongPin: "暗証番号が違います。残り {n} 回です", checking: "確認しています…",
    photo: "顔写真", integrity: "券面データの真正性",
    integrity_verified: "検証済み（改ざんなし）", integrity_failed: "検証失敗 — 写真を信用しないでください",
    integrity_not_checked: "未検証（設定なし）",
    name: "氏名", birthDate: "生年月日", sex: "性別",
    sex_male: "男", sex_female: "女", sex_notKnown: "不明", sex_notApplicable: "適用不能",
    confirmVisual: "顔写真とご本人が同じ人であることを確認しました",
    confirmVisualHint: "写真・氏名・生年月日をご本人と見比べてから押してください",
    status_eligible: "資格あり", status_not_eligible: "資格なし（喪失）", status_expired: "資格の期限切れ",
    status_unknown_card: "保険証の利用登録がありません",
    status_verification_failed: "カードの証明書を確認できません（失効・期限切れ・偽造の可能性）",
    insurer: "保険者番号", symbolNumber: "記号・番号・枝番", copay: "一部負担金の割合", validity: "有効期間",
    modeUsed: "確認方法", mode_pin: "暗証番号", mode_visual: "目視確認",
    registry: "資格情報", card: "カード", patientMatch: "本人照合",
    verdict_match: "一致", verdict_probable: "要確認", verdict_mismatch: "不一致",
    verdict_not_compared: "照合なし",
    reason_card_identity_not_read: "暗証番号の確認ではカードの氏名を読んでいません",
    reason_no_record: "資格情報がありません",
    reason_birth_date_equal: "生年月日一致", reason_birth_date_differs: "生年月日が違う",
    reason_sex_differs: "性別が違う", reason_name_identical: "氏名一致",
    reason_name_equal_normalized: "氏名一致（表記ゆれ）", reason_name_kanji_variant: "異体字の違いあり",
    reason_kana_equal: "読みが一致", reason_kana_differs: "読みが違う", reason_name_differs: "氏名が違う",
    next: "次の方", retry: "やり直す", none: "—",
    matchCard: "券面の氏名・生年月日でも照合する（照合番号B）",
    todo: "対応",
    err_card_session_ended: ["カードが取り出されました", "もう一度カードを置いてください"],
    err_wrong_pin: ["暗証番号が違います", "もう一度入力していただいてください"],
    err_pin_blocked: ["暗証番号がロックされています", "目視確認で受付してください。ロック解除は市区町村の窓口です"],
    err_last_try_refused: ["暗証番号の残りが 1 回です", "確認のうえ送信してください"],
    err_invalid_pin_format: ["入力の形式が違います", "数字を決められた桁数で入力してください"],
    err_registry_unavailable: ["資格情報につながりません", "少し待ってやり直してください。続くときは管理者へ"],
    err_registry_timeout: ["資格情報の応答がありません", "少し待ってやり直してください。続くときは管理者へ"],
    err_registry_error: ["資格情報の応答が正しくありません", "管理者に連絡してください"],
    err_jpkid_unavailable: ["カード読み取りサービス（jpkid）が動いていません", "管理者に連絡してください"],
    err_card_timeout: ["カードが応答しません", "カードを置き直してください"],
    err_card_error: ["カードを読めませんでした", "カードを置き直してください"],
    err_not_a_jpki_card: ["マイナンバーカードではありません", "マイナンバーカードを置いてください"],
    err_forbidden: ["この操作の権限がありません", "管理者に連絡してください（jpkid の roles 設定）"],
    err_mode_not_allowed: ["この確認方法は設定で許可されていません", "別の方法を選ぶか管理者へ"],
    err_trust_not_configured: ["証明書の検証設定がありません", "管理者に連絡してください"],
    err_eligibility_disabled: ["資格確認が設定されていません", "管理者に連絡してください"],
    err_visual_check_missing: ["顔写真をまだ表示していません", "照合番号B を入力して写真を表示してください"],
    err_no_answer_yet: ["まだ資格確認をしていません", "先に資格確認をしてください"],
    err_photo: ["顔写真を表示できません", "カードを置き直してください。続くときは保険証などで確認してください"],
    err_other: ["エラーが発生しました", "カードを置き直してください。続くときは管理者へ"],
    jpkidDown: "カード読み取りサービス（jpkid）に接続できません。管理者に連絡してください",
    pcscDown: "カードリーダーのサービス（pcscd）が止まっています。管理者に連絡してください",
  },
  en: {
    title: "My Number health insurance — reception", lang: "日本語", reader: "Card reader",
    waiting: "Place the My Number card on the reader",
    nextWaiting: "Next patient: place the card (take the previous card away)",
    reading: "Reading the card…",
    cardType: "Card type", certExpiry: "Certificate valid until", pinTries: "PIN tries left",
    expiresSoon: "Expires within 3 months: suggest renewal at the municipal office",
    expired: "The certificate has expired",
    times: "", blocked: "blocked",
    chooseMode: "Choose how to confirm", modePin: "PIN", modeVisual: "Visual check",
    pinBlockedOffer: "The PIN is blocked. Use the visual check instead",
    noPinOffer: "This card has no PIN (face-authentication card). Use the visual check",
    enterPin: "Ask the patient to enter the 4-digit PIN",
    enterKey: "Enter 照合番号B from the card face (birth date 6 digits, expiry year 4, security code 4)",
    send: "Enter", clear: "Delete", cancel: "Cancel", back: "Back",
    lastTry: "One try left: a wrong PIN will block it. Send anyway?",
    lastTrySend: "Send",
    wrongPin: "Wrong PIN. {n} tries left", checking: "Checking…",
    photo: "Photo", integrity: "Card data integrity",
    integrity_verified: "verified (not altered)", integrity_failed: "FAILED — do not trust this photo",
    integrity_not_checked: "not checked (not configured)",
    name: "Name", birthDate: "Birth date", sex: "Sex",
    sex_male: "male", sex_female: "female", sex_notKnown: "unknown", sex_notApplicable: "n/a",
    confirmVisual: "I compared the photo with the patient: same person",
    confirmVisualHint: "Compare photo, name and birth date with the patient first",
    status_eligible: "Eligible", status_not_eligible: "Not eligible (lost)", status_expired: "Expired",
    status_unknown_card: "Card not registered for health insurance",
    status_verification_failed: "Card certificate could not be verified (revoked, expired or forged)",
    insurer: "Insurer number", symbolNumber: "Symbol · number · branch", copay: "Copayment", validity: "Valid",
    modeUsed: "Confirmed by", mode_pin: "PIN", mode_visual: "visual check",
    registry: "Registry", card: "Card", patientMatch: "Patient match",
    verdict_match: "match", verdict_probable: "probable", verdict_mismatch: "mismatch",
    verdict_not_compared: "not compared",
    reason_card_identity_not_read: "the PIN check read no name from the card",
    reason_no_record: "no registry record",
    reason_birth_date_equal: "same birth date", reason_birth_date_differs: "birth date differs",
    reason_sex_differs: "sex differs", reason_name_identical: "same name",
    reason_name_equal_normalized: "same name (width/spacing)", reason_name_kanji_variant: "kanji variant",
    reason_kana_equal: "same reading", reason_kana_differs: "reading differs", reason_name_differs: "name differs",
    next: "Next patient", retry: "Try again", none: "—",
    matchCard: "Also compare the card's name and birth date (照合番号B)",
    todo: "What to do",
    err_card_session_ended: ["The card was removed", "Place the card again"],
    err_wrong_pin: ["Wrong PIN", "Ask the patient to try again"],
    err_pin_blocked: ["The PIN is blocked", "Use the visual check; the municipal office unblocks PINs"],
    err_last_try_refused: ["One PIN try left", "Confirm before sending"],
    err_invalid_pin_format: ["Wrong format", "Enter the required number of digits"],
    err_registry_unavailable: ["The eligibility registry cannot be reached", "Wait and try again; then call the administrator"],
    err_registry_timeout: ["The eligibility registry did not answer", "Wait and try again; then call the administrator"],
    err_registry_error: ["The eligibility registry answered wrongly", "Call the administrator"],
    err_jpkid_unavailable: ["The card service (jpkid) is not running", "Call the administrator"],
    err_card_timeout: ["The card does not answer", "Place the card again"],
    err_card_error: ["The card could not be read", "Place the card again"],
    err_not_a_jpki_card: ["Not a My Number card", "Place a My Number card"],
    err_forbidden: ["Not allowed for this user", "Call the administrator (jpkid roles)"],
    err_mode_not_allowed: ["This check is not allowed by the configuration", "Choose the other one or call the administrator"],
    err_trust_not_configured: ["Certificate checking is not configured", "Call the administrator"],
    err_eligibility_disabled: ["Eligibility is not configured", "Call the administrator"],
    err_visual_check_missing: ["The photo was not shown yet", "Enter 照合番号B to show the photo"],
    err_no_answer_yet: ["No eligibility answer yet", "Check eligibility first"],
    err_photo: ["The photo cannot be shown", "Place the card again; otherwise check another ID"],
    err_other: ["Something went wrong", "Place the card again; then call the administrator"],
    jpkidDown: "Cannot reach the card service (jpkid). Call the administrator",
    pcscDown: "The reader service (pcscd) is down. Call the administrator",
  },
};

let lang = "ja";
let idleSeconds = 120;
const panels = new Map(); // reader name → Panel

function t(key, params) {
  let s = TEXT[lang][key];
  if (s === undefined) s = TEXT.ja[key] !== undefined ? TEXT.ja[key] : key;
  if (params) for (const k of Object.keys(params)) s = String(s).replace("{" + k + "}", params[k]);
  return s;
}

// Small DOM builder: text is always set through textContent (never HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    opts.headers["content-type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    return { status: 0, json: { error: { code: "jpkid_unavailable" } } };
  }
  let json = {};
  try { json = await r.json(); } catch (e) { json = {}; }
  return { status: r.status, json };
}

function errorCode(answer) {
  return (answer.json && answer.json.error && answer.json.error.code) || "other";
}

class Panel {
  constructor(reader) {
    this.reader = reader;
    this.session = null;
    this.epoch = 0;         // bumps on every card change: stale answers are dropped
    this.model = { state: "waiting" };
    this.digits = [];       // the PIN / 照合番号B being typed: never in the DOM
    this.idleTimer = null;
    this.root = el("section", { class: "panel", "data-reader": reader, tabindex: "-1" });
    this.root.addEventListener("keydown", (ev) => this.onKey(ev));
    document.getElementById("panels").append(this.root);
    this.render();
  }

  // ---- session binding ----
  bind(session) {
    this.wipe();
    this.session = session;
    this.epoch++;
    this.set({ state: "reading" });
    this.loadCard();
  }

  /// Clears everything of the current card (removal, swap, 次の方, idle).
  clear(nextState) {
    const s = this.session;
    this.wipe();
    this.session = null;
    this.epoch++;
    if (s) api("POST", "/api/sessions/" + s + "/end", {});
    this.set({ state: nextState || "waiting" });
  }

  wipe() {
    this.digits.length = 0;
    this.model = { state: "waiting" };
    clearTimeout(this.idleTimer);
  }

  /// Runs `fn` and applies its result only if the panel still shows the same card.
  async guarded(fn) {
    const epoch = this.epoch;
    const session = this.session;
    const result = await fn(session);
    if (epoch !== this.epoch || session !== this.session) return null;
    if (result && result.json && result.json.session && result.json.session !== session) return null;
    return result;
  }

  touch() {
    clearTimeout(this.idleTimer);
    if (this.model.state === "waiting" || this.model.state === "next") return;
    this.idleTimer = setTimeout(() => this.clear("next"), idleSeconds * 1000);
  }

  set(model) {
    this.model = model;
    this.root.dataset.state = model.state;
    if (this.session) this.root.dataset.session = this.session; else delete this.root.dataset.session;
    this.touch();
    this.render();
  }

  fail(answer, extra) {
    const code = errorCode(answer);
    if (code === "card_session_ended" || code === "session_not_found") {
      this.clear("waiting");
      return;
    }
    this.set(Object.assign({ state: "error", code, card: this.model.card }, extra || {}));
  }

  // ---- flow ----
  async loadCard() {
    const r = await this.guarded((s) => api("GET", "/api/sessions/" + s + "/card"));
    if (!r) return;
    if (r.status !== 200) return this.fail(r);
    this.set({ state: "card", card: r.json });
  }

  choosePin() {
    this.digits.length = 0;
    this.set({ state: "pin", card: this.model.card, note: null });
  }

  chooseVisual() {
    this.digits.length = 0;
    this.set({ state: "key", card: this.model.card });
  }

  async sendPin(allowLastTry) {
    if (this.digits.length !== 4) return;
    const card = this.model.card;
    const tries = card && card.pin ? card.pin.triesLeft : null;
    if (tries === 1 && !allowLastTry) {
      this.set({ state: "pin", card, confirmLast: true });
      return;
    }
    const body = { mode: "pin", pin: this.digits.join("") };
    if (allowLastTry) body.allowLastTry = true;
    this.digits.length = 0; // dropped as soon as it is sent
    this.set({ state: "checking", card });
    const r = await this.guarded((s) => api("POST", "/api/sessions/" + s + "/eligibility", body));
    body.pin = null;
    if (!r) return;
    if (r.status === 200) return this.set({ state: "result", card, result: r.json });
    const code = errorCode(r);
    if (code === "wrong_pin") {
      const n = Number((r.json.error.details || {}).triesLeft);
      const c = Object.assign({}, card, { pin: { triesLeft: n, blocked: n === 0 } });
      return this.set({ state: "pin", card: c, note: t("wrongPin", { n }), wrongTries: n });
    }
    if (code === "last_try_refused") return this.set({ state: "pin", card, confirmLast: true });
    if (code === "pin_blocked") {
      const c = Object.assign({}, card, { pin: { triesLeft: 0, blocked: true } });
      return this.set({ state: "card", card: c });
    }
    this.fail(r);
  }

  async sendKey() {
    if (this.digits.length !== 14) return;
    const body = { key: this.digits.join("") };
    this.digits.length = 0;
    const card = this.model.card;
    if (this.model.purpose === "match") return this.matchCard(body);
    this.set({ state: "checking", card });
    const r = await this.guarded((s) => api("POST", "/api/sessions/" + s + "/face", body));
    body.key = null;
    if (!r) return;
    if (r.status !== 200) {
      const code = errorCode(r);
      if (code === "wrong_pin") {
        const n = Number((r.json.error.details || {}).triesLeft);
        return this.set({ state: "key", card, note: t("wrongPin", { n }) });
      }
      return this.fail(r, code.startsWith("photo_") ? { code: "photo" } : {});
    }
    this.set({ state: "visual", card, face: r.json });
  }

  /// After a PIN-mode answer: the card's name and birth date (照合番号B) against the registry's.
  async matchCard(body) {
    const { card, result } = this.model;
    this.set({ state: "checking", card });
    const r = await this.guarded((s) => api("POST", "/api/sessions/" + s + "/identity", body));
    body.key = null;
    if (!r) return;
    if (r.status === 200) {
      return this.set({ state: "result", card, result: Object.assign({}, result, { patientMatch: r.json.patientMatch }) });
    }
    if (errorCode(r) === "wrong_pin") {
      const n = Number((r.json.error.details || {}).triesLeft);
      return this.set({ state: "key", card, result, purpose: "match", note: t("wrongPin", { n }) });
    }
    this.fail(r);
  }

  async confirmVisual() {
    const card = this.model.card;
    const face = this.model.face;
    this.set({ state: "checking", card });
    const r = await this.guarded((s) =>
      api("POST", "/api/sessions/" + s + "/eligibility", { mode: "visual", visualConfirmed: true }));
    if (!r) return;
    if (r.status === 200) return this.set({ state: "result", card, face, result: r.json });
    this.fail(r);
  }

  // ---- keypad ----
  maxDigits() { return this.model.state === "key" ? 14 : 4; }

  press(d) {
    if (this.digits.length < this.maxDigits()) this.digits.push(d);
    this.updateDots();
    this.touch();
  }

  backspace() { this.digits.pop(); this.updateDots(); this.touch(); }

  updateDots() {
    const dots = this.root.querySelector(".dots");
    if (dots) dots.textContent = "●".repeat(this.digits.length);
    const ok = this.root.querySelector(".keys .send");
    if (ok) ok.disabled = this.digits.length !== this.maxDigits();
  }

  onKey(ev) {
    const st = this.model.state;
    if ((st !== "pin" && st !== "key") || this.model.confirmLast) return;
    if (/^[0-9]$/.test(ev.key)) { this.press(ev.key); ev.preventDefault(); }
    else if (ev.key === "Backspace") { this.backspace(); ev.preventDefault(); }
    else if (ev.key === "Enter") {
      ev.preventDefault();
      if (st === "pin") this.sendPin(false); else this.sendKey();
    }
  }

  keypad(onSend) {
    const keys = el("div", { class: "keys" });
    for (const d of ["1", "2", "3", "4", "5", "6", "7", "8", "9"]) {
      keys.append(el("button", { type: "button", class: "digit", text: d, onclick: () => this.press(d) }));
    }
    keys.append(el("button", { type: "button", class: "del", text: t("clear"), onclick: () => this.backspace() }));
    keys.append(el("button", { type: "button", class: "digit", text: "0", onclick: () => this.press("0") }));
    keys.append(el("button", { type: "button", class: "send primary", text: t("send"), onclick: onSend }));
    const pad = el("div", { class: "keypad", tabindex: "0", role: "group", "aria-label": t("enterPin") },
      el("div", { class: "dots", "aria-live": "polite" }), keys);
    return pad;
  }

  // ---- rendering ----
  render() {
    const m = this.model;
    const root = this.root;
    root.replaceChildren(el("h2", { text: t("reader") + ": " + this.reader }));
    const add = (...nodes) => root.append(...nodes);
    switch (m.state) {
      case "waiting": add(el("p", { class: "big", text: t("waiting") })); break;
      case "next": add(el("p", { class: "big", text: t("nextWaiting") })); break;
      case "reading": add(el("p", { class: "big", text: t("reading") })); break;
      case "checking": add(this.cardInfo(m.card), el("p", { class: "big", text: t("checking") })); break;
      case "card": {
        add(this.cardInfo(m.card));
        // A card without PIN (顔認証マイナンバーカード: modes ["visual"]) is treated like a blocked one.
        const noPin = !!(m.card && Array.isArray(m.card.modes) && !m.card.modes.includes("pin"));
        const blocked = noPin || (m.card && m.card.pin && m.card.pin.blocked);
        if (noPin) add(el("p", { class: "warn no-pin", text: t("noPinOffer") }));
        else if (blocked) add(el("p", { class: "warn pin-blocked", text: t("pinBlockedOffer") }));
        add(el("p", { text: t("chooseMode") }),
          el("div", { class: "row" },
            el("button", { type: "button", class: "primary mode-pin", disabled: blocked, text: t("modePin"),
              onclick: () => this.choosePin() }),
            el("button", { type: "button", class: "mode-visual", text: t("modeVisual"),
              onclick: () => this.chooseVisual() }),
            this.nextButton()));
        const first = root.querySelector(blocked ? ".mode-visual" : ".mode-pin");
        if (first) setTimeout(() => first.focus(), 0);
        break;
      }
      case "pin":
      case "key": {
        add(this.cardInfo(m.card));
        if (m.note) add(el("p", { class: "warn tries", "data-tries": m.wrongTries, text: m.note }));
        if (m.confirmLast) {
          add(el("div", { class: "confirm last-try" },
            el("p", { text: t("lastTry") }),
            el("div", { class: "row" },
              el("button", { type: "button", class: "primary send-last", text: t("lastTrySend"),
                onclick: () => this.sendPin(true) }),
              el("button", { type: "button", class: "cancel-last", text: t("cancel"),
                onclick: () => { this.digits.length = 0; this.set({ state: "card", card: m.card }); } }))));
          setTimeout(() => { const b = root.querySelector(".cancel-last"); if (b) b.focus(); }, 0);
          break;
        }
        add(el("p", { text: m.state === "pin" ? t("enterPin") : t("enterKey") }));
        const pad = this.keypad(() => (m.state === "pin" ? this.sendPin(false) : this.sendKey()));
        add(pad, el("div", { class: "row" },
          el("button", { type: "button", class: "back", text: t("back"),
            onclick: () => {
              this.digits.length = 0;
              this.set(m.purpose === "match" ? { state: "result", card: m.card, result: m.result }
                : { state: "card", card: m.card });
            } })));
        this.updateDots();
        setTimeout(() => pad.focus(), 0);
        break;
      }
      case "visual": {
        add(this.cardInfo(m.card), this.faceView(m.face));
        add(el("p", { class: "muted", text: t("confirmVisualHint") }),
          el("div", { class: "row" },
            el("button", { type: "button", class: "primary confirm-visual", text: t("confirmVisual"),
              onclick: () => this.confirmVisual() }),
            this.nextButton()));
        break;
      }
      case "result": add(this.resultView(m.result, m.face)); break;
      case "error": {
        const words = TEXT[lang]["err_" + m.code] || TEXT[lang].err_other;
        add(this.cardInfo(m.card),
          el("div", { class: "error", "data-code": m.code },
            el("div", { class: "what", text: words[0] }),
            el("div", {}, el("span", { class: "muted", text: t("todo") + ": " }), el("span", { text: words[1] }))),
          el("div", { class: "row" },
            m.card ? el("button", { type: "button", class: "retry", text: t("retry"),
              onclick: () => this.set({ state: "card", card: m.card }) }) : null,
            this.nextButton()));
        break;
      }
    }
  }

  nextButton() {
    return el("button", { type: "button", class: "next", text: t("next"), onclick: () => this.clear("next") });
  }

  cardInfo(card) {
    if (!card) return el("div");
    const dl = el("dl", { class: "card-info" });
    const phones = { "android-phone": ["スマートフォン (Android)", "Smartphone (Android)"],
      "iphone": ["スマートフォン (iPhone)", "Smartphone (iPhone)"] };
    const typeName = phones[card.credential] ? phones[card.credential][lang === "ja" ? 0 : 1]
      : card.cardType === "myNumberCard" ? (lang === "ja" ? "マイナンバーカード" : "My Number card")
      : card.cardType;
    dl.append(el("dt", { text: t("cardType") }), el("dd", { class: "card-type", text: typeName }));
    if (card.certificate) {
      const c = card.certificate;
      const dd = el("dd", { class: "cert-expiry", text: c.notAfter });
      if (c.expired) dd.append(el("div", { class: "warn", text: t("expired") }));
      else if (c.expiresWithin3Months) dd.append(el("div", { class: "warn expires-soon", text: t("expiresSoon") }));
      dl.append(el("dt", { text: t("certExpiry") }), dd);
    }
    if (card.pin) {
      const p = card.pin;
      const text = p.blocked ? t("blocked") : (p.triesLeft === null ? t("none") : p.triesLeft + " " + t("times"));
      dl.append(el("dt", { text: t("pinTries") }),
        el("dd", { class: "pin-tries" + (p.triesLeft === 1 || p.blocked ? " warn" : ""), text }));
    }
    return dl;
  }

  faceView(face) {
    const dl = el("dl");
    const integrity = face.integrity || "not_checked";
    dl.append(
      el("dt", { text: t("integrity") }),
      el("dd", { class: "integrity " + (integrity === "verified" ? "" : "warn"), "data-integrity": integrity,
        text: t("integrity_" + integrity) }),
      el("dt", { text: t("name") }), el("dd", { class: "face-name", text: face.name || t("none") }),
      el("dt", { text: t("birthDate") }), el("dd", { class: "face-birth", text: face.birthDate || t("none") }),
      el("dt", { text: t("sex") }), el("dd", { text: t("sex_" + face.sex) }));
    return el("div", { class: "visual" },
      el("img", { class: "face", src: face.photo, alt: t("photo") }), dl);
  }

  resultView(r, face) {
    const status = r.status;
    const cls = status === "eligible" ? "ok" : (status === "unknown_card" ? "warn" : "bad");
    const box = el("div", { class: "result" });
    box.append(el("div", { class: "status " + cls, "data-status": status, text: t("status_" + status) }));
    const rec = r.record;
    const dl = el("dl");
    dl.append(el("dt", { text: t("modeUsed") }), el("dd", { class: "mode-used", "data-mode": r.mode, text: t("mode_" + r.mode) }));
    if (rec) {
      const ratio = rec.copaymentRatio;
      dl.append(
        el("dt", { text: t("insurer") }), el("dd", { class: "insurer", text: rec.insurerNumber }),
        el("dt", { text: t("symbolNumber") }),
        el("dd", { class: "symbol-number", text: [rec.symbol || "", rec.number, rec.branch].join(" ・ ") }),
        el("dt", { text: t("copay") }),
        el("dd", { class: "copay", text: lang === "ja" ? (ratio / 10) + " 割" : ratio + " %" }),
        el("dt", { text: t("validity") }),
        el("dd", { class: "validity", text: (rec.validFrom || "") + " 〜 " + (rec.validTo || "") }));
    }
    box.append(dl);
    const pm = r.patientMatch || { verdict: "not_compared", reasons: [] };
    if (rec) {
      const cardSide = pm.card || {};
      box.append(el("table", { class: "compare" },
        el("tr", {}, el("th"), el("th", { text: t("registry") }), el("th", { text: t("card") })),
        el("tr", {}, el("th", { text: t("name") }), el("td", { class: "registry-name", text: rec.name }),
          el("td", { class: "card-name", text: cardSide.name || t("none") })),
        el("tr", {}, el("th", { text: t("birthDate") }), el("td", { class: "registry-birth", text: rec.birthDate }),
          el("td", { class: "card-birth", text: cardSide.birthDate || t("none") }))));
    }
    const vcls = { match: "ok", probable: "warn", mismatch: "bad" }[pm.verdict] || "none";
    const reasons = (pm.reasons || []).map((x) => t("reason_" + x)).join("、");
    box.append(el("p", {}, el("span", { class: "muted", text: t("patientMatch") + ": " }),
      el("span", { class: "match " + vcls, "data-verdict": pm.verdict, text: t("verdict_" + pm.verdict) }),
      reasons ? el("span", { class: "reasons", text: " (" + reasons + ")" }) : null));
    const next = this.nextButton();
    const row = el("div", { class: "row" });
    if (pm.verdict === "not_compared" && (pm.reasons || []).includes("card_identity_not_read")) {
      row.append(el("button", { type: "button", class: "match-card", text: t("matchCard"),
        onclick: () => { this.digits.length = 0; this.set({ state: "key", card: this.model.card, result: r, purpose: "match" }); } }));
    }
    row.append(next);
    box.append(row);
    setTimeout(() => next.focus(), 0);
    return box;
  }
}

function banner(text) {
  const b = document.getElementById("banner");
  if (text) { b.textContent = text; b.hidden = false; } else { b.textContent = ""; b.hidden = true; }
}

function panelFor(reader) {
  let p = panels.get(reader);
  if (!p) { p = new Panel(reader); panels.set(reader, p); }
  return p;
}

async function loadReaders() {
  const r = await api("GET", "/api/readers");
  if (r.status !== 200) { banner(t("jpkidDown")); return; }
  banner(null);
  const names = new Set();
  for (const rd of r.json.readers || []) {
    names.add(rd.name);
    const p = panelFor(rd.name);
    if (rd.session && rd.session !== p.session) p.bind(rd.session);
    if (!rd.session && p.session) p.clear("waiting");
  }
  for (const [name, p] of panels) if (!names.has(name)) { p.root.remove(); panels.delete(name); }
}

function listen() {
  const es = new EventSource("/api/events");
  const data = (ev) => { try { return JSON.parse(ev.data); } catch (e) { return {}; } };
  es.addEventListener("open", () => { banner(null); loadReaders(); });
  es.addEventListener("card-inserted", (ev) => { const d = data(ev); if (d.reader && d.session) panelFor(d.reader).bind(d.session); });
  es.addEventListener("card-removed", (ev) => {
    const d = data(ev);
    const p = panels.get(d.reader);
    // An event about an older session than the one shown is stale (the new card is already bound).
    if (p && !(d.session && p.session && d.session !== p.session)) p.clear("waiting");
  });
  es.addEventListener("reader-added", (ev) => { const d = data(ev); if (d.reader) panelFor(d.reader); });
  es.addEventListener("reader-removed", (ev) => {
    const d = data(ev);
    const p = panels.get(d.reader);
    if (p) { p.clear(); p.root.remove(); panels.delete(d.reader); }
  });
  es.addEventListener("service-unavailable", () => banner(t("pcscDown")));
  es.addEventListener("service-restored", () => { banner(null); loadReaders(); });
  es.addEventListener("jpkid-unavailable", () => {
    banner(t("jpkidDown"));
    for (const p of panels.values()) p.clear("waiting");
  });
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  const b = document.getElementById("lang");
  b.textContent = t("lang");
  b.lang = lang === "ja" ? "en" : "ja";
  for (const p of panels.values()) p.render();
}

async function start() {
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "ja" ? "en" : "ja";
    applyLanguage();
  });
  const cfg = await api("GET", "/api/config");
  if (cfg.status === 200 && cfg.json.idleSeconds) idleSeconds = cfg.json.idleSeconds;
  await loadReaders();
  listen();
}

document.addEventListener("DOMContentLoaded", start);
