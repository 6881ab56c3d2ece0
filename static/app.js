/* Three Picks: progressive enhancement. Everything works without this file; with it, picking,
   searching and filtering happen in place. Data goes into the page only through textContent and
   attributes (never innerHTML), so titles with markup stay text. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  /* ------------------------------------------------------------ posters */
  // A TMDB image that fails is replaced by the app's generated poster (its data-fallback).
  function useFallback(img) {
    if (!img || !img.classList || !img.classList.contains("poster-photo")) return;
    img.classList.remove("poster-photo");
    img.classList.add("poster-generated");
    img.src = img.getAttribute("data-fallback");
  }
  document.addEventListener("error", function (event) {
    if (event.target && event.target.tagName === "IMG") useFallback(event.target);
  }, true);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function posterNode(pick, cls) {
    var img = pick.poster
      ? el("img", { "class": "poster-photo", src: pick.poster, "data-fallback": pick.fallback })
      : el("img", { "class": "poster-generated", src: pick.fallback });
    ["alt", "loading", "decoding", "width", "height"].forEach(function (name, i) {
      img.setAttribute(name, ["", "lazy", "async", "200", "300"][i]);
    });
    if (pick.poster) img.addEventListener("error", function () { useFallback(img); });
    return el("span", { "class": "poster " + (cls || "") }, [img]);
  }

  /* ------------------------------------------------------------ picker */
  function initPicker(form) {
    var max = parseInt(form.getAttribute("data-picks-required"), 10) || 3;
    var searchUrl = form.getAttribute("data-search-url");
    var fallbackPattern = form.getAttribute("data-fallback-pattern");
    var moviePattern = form.getAttribute("data-movie-pattern");  // ".../movies/0"
    var trayList = document.getElementById("tray-list");
    var trayCount = document.getElementById("tray-count");
    var status = document.getElementById("tray-status");
    var submit = document.getElementById("submit");
    var query = document.getElementById("q");
    var results = document.getElementById("results");
    var resultsGrid = document.getElementById("results-grid");
    var resultsTitle = document.getElementById("results-title");
    var resultsEmpty = document.getElementById("results-empty");
    var picks = [];
    var searchSeq = 0;
    var timer = null;

    function say(text) { status.textContent = text; }
    function labelOf(p) { return p.year ? p.title + " (" + p.year + ")" : p.title; }
    function indexOf(id) {
      for (var i = 0; i < picks.length; i++) if (picks[i].id === id) return i;
      return -1;
    }
    function currentGenre() {
      var checked = form.querySelector('input[name="genre"]:checked');
      return checked ? checked.value : "";
    }

    function fromCard(card) {
      return {
        id: card.getAttribute("data-movie-id"),
        title: card.getAttribute("data-title"),
        year: card.getAttribute("data-year"),
        poster: card.getAttribute("data-poster"),
        fallback: card.getAttribute("data-fallback")
      };
    }

    trayList.querySelectorAll(".tray-item").forEach(function (item) {
      var img = item.querySelector(".poster img");
      var title = item.querySelector(".tray-title");
      var year = title.querySelector(".year");
      var fallback = img.getAttribute("data-fallback") || img.getAttribute("src");
      picks.push({
        id: item.getAttribute("data-movie-id"),
        title: title.firstChild ? title.firstChild.textContent.trim() : "",
        year: year ? year.textContent : "",
        poster: img.getAttribute("src") !== fallback ? img.getAttribute("src") : "",
        fallback: fallback
      });
    });

    // A movie page's URL with the picks so far, so that its "add to my picks" keeps them.
    function movieUrl(id) {
      var query = picks.map(function (p) { return "movie_ids=" + encodeURIComponent(p.id); }).join("&");
      return moviePattern.replace(/0$/, id) + (query ? "?" + query : "");
    }

    function syncCards() {
      form.querySelectorAll(".pick-card").forEach(function (card) {
        var box = card.querySelector(".pick-box");
        var on = indexOf(card.getAttribute("data-movie-id")) >= 0;
        box.removeAttribute("name");  // the tray's hidden inputs are what the form sends
        box.disabled = false;
        box.checked = on;
        card.classList.toggle("is-picked", on);
        var about = card.querySelector(".card-about");
        if (about && moviePattern) about.setAttribute("href", movieUrl(card.getAttribute("data-movie-id")));
      });
      form.classList.toggle("is-full", picks.length >= max);
    }

    function renderTray() {
      trayList.textContent = "";
      picks.forEach(function (p) {
        var title = el("span", { "class": "tray-title", text: p.title + " " });
        if (p.year) title.appendChild(el("span", { "class": "year", text: p.year }));
        var remove = el("button", { "class": "tray-remove", type: "button", value: p.id }, [
          el("span", { "aria-hidden": "true", text: "×" }),
          el("span", { "class": "visually-hidden", text: "Remove " + labelOf(p) })
        ]);
        trayList.appendChild(el("li", { "class": "tray-item", "data-movie-id": p.id }, [
          el("input", { type: "hidden", name: "movie_ids", value: p.id }),
          posterNode(p, "tray-poster"), title, remove
        ]));
      });
      for (var n = picks.length; n < max; n++) {
        trayList.appendChild(el("li", { "class": "tray-slot" }, [el("span", { text: "Pick " + (n + 1) })]));
      }
      trayCount.textContent = picks.length + " of " + max;
      submit.setAttribute("aria-disabled", picks.length === max ? "false" : "true");
      syncCards();
      rememberState();
    }

    function rememberState() {
      var params = new URLSearchParams();
      picks.forEach(function (p) { params.append("movie_ids", p.id); });
      if (query.value.trim()) params.set("q", query.value.trim());
      if (currentGenre()) params.set("genre", currentGenre());
      var qs = params.toString();
      history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
    }

    function add(card, box) {
      if (picks.length >= max) {
        box.checked = false;
        say("You already have three picks. Remove one to pick " + card.getAttribute("data-title") + ".");
        return;
      }
      var pick = fromCard(card);
      picks.push(pick);
      var left = max - picks.length;
      say("Added " + labelOf(pick) + ". " + (left ? left + " more to go." : "Ready: get your recommendations."));
      renderTray();
    }

    function remove(id) {
      var i = indexOf(id);
      if (i < 0) return;
      var gone = picks.splice(i, 1)[0];
      say("Removed " + labelOf(gone) + ". " + picks.length + " of " + max + " picked.");
      renderTray();
    }

    function filterGenre(genre) {
      form.querySelectorAll("#catalog-grid .pick-card").forEach(function (card) {
        var genres = (card.getAttribute("data-genres") || "").split("|");
        card.hidden = !!genre && genres.indexOf(genre) < 0;
      });
      var note = document.querySelector("#catalog-title .filter-note");
      if (note) note.remove();
      if (genre) document.getElementById("catalog-title").appendChild(el("span", { "class": "filter-note", text: " · " + genre }));
      if (query.value.trim()) runSearch();
      rememberState();
    }

    function resultCard(movie) {
      var poster = movie.poster_url ? movie.poster_url.replace("/w500/", "/w342/") : "";
      var pick = {
        id: String(movie.movie_id), title: movie.title, year: movie.year ? String(movie.year) : "",
        poster: movie.poster_url ? movie.poster_url.replace("/w500/", "/w185/") : "",
        fallback: fallbackPattern.replace(/0\.svg$/, movie.movie_id + ".svg")
      };
      var meta = [movie.year, movie.genres.slice(0, 2).join(", ")].filter(Boolean).join(" · ");
      var box = el("input", { "class": "pick-box", type: "checkbox" });
      return el("li", {
        "class": "card pick-card", "data-movie-id": pick.id, "data-title": pick.title, "data-year": pick.year,
        "data-genres": movie.genres.join("|"), "data-poster": pick.poster, "data-fallback": pick.fallback
      }, [el("label", { "class": "card-label" }, [
        box,
        posterNode({ poster: poster, fallback: pick.fallback }),
        el("span", { "class": "pick-badge", "aria-hidden": "true" }),
        el("span", { "class": "card-title", text: movie.title }),
        el("span", { "class": "card-meta", text: meta })
      ]), el("a", { "class": "card-about", href: movieUrl(pick.id) }, [
        document.createTextNode("About"),
        el("span", { "class": "visually-hidden", text: " " + labelOf(pick) })
      ])]);
    }

    function runSearch() {
      var q = query.value.trim();
      var seq = ++searchSeq;
      rememberState();
      if (!q) {
        results.hidden = true;
        resultsGrid.textContent = "";
        return;
      }
      var url = searchUrl + "?limit=24&q=" + encodeURIComponent(q);
      if (currentGenre()) url += "&genre=" + encodeURIComponent(currentGenre());
      fetch(url, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { movies: [] }; })
        .then(function (data) {
          if (seq !== searchSeq) return;  // a newer search has started
          resultsGrid.textContent = "";
          data.movies.forEach(function (m) { resultsGrid.appendChild(resultCard(m)); });
          resultsTitle.textContent = "Results for “" + q + "”";
          resultsEmpty.hidden = data.movies.length > 0;
          resultsEmpty.textContent = "No title matches “" + q + "”" + (currentGenre() ? " in " + currentGenre() : "") + ". Try fewer letters or another spelling.";
          results.hidden = false;
          syncCards();
          say(data.movies.length ? data.movies.length + " movies match “" + q + "”." : "No movies match “" + q + "”.");
        })
        .catch(function () { if (seq === searchSeq) say("Search is not available right now. Press Enter to search."); });
    }

    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target.classList.contains("pick-box")) {
        var card = target.closest(".pick-card");
        if (target.checked) add(card, target);
        else remove(card.getAttribute("data-movie-id"));
      } else if (target.name === "genre") {
        filterGenre(target.value);
      }
    });

    form.addEventListener("click", function (event) {
      var button = event.target.closest(".tray-remove");
      if (!button) return;
      event.preventDefault();
      var position = Array.prototype.indexOf.call(trayList.querySelectorAll(".tray-remove"), button);
      remove(button.value);
      var buttons = trayList.querySelectorAll(".tray-remove");
      (buttons[Math.min(position, buttons.length - 1)] || query).focus();
    });

    query.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(runSearch, 180);
    });

    form.addEventListener("submit", function (event) {
      var by = event.submitter;
      if (by && by.name === "action" && by.value === "search") {
        event.preventDefault();
        clearTimeout(timer);
        runSearch();
      } else if (by === submit && picks.length !== max) {
        event.preventDefault();
        var missing = max - picks.length;
        say(missing > 0 ? "Pick " + missing + " more movie" + (missing > 1 ? "s" : "") + " first." : "Remove a pick first: exactly three, please.");
      }
    });

    renderTray();
    if (query.value.trim() && !resultsGrid.children.length) runSearch();
  }

  /* ------------------------------------------------------------ feedback on results */
  // The result page's feedback form is sent in the background: the server stores the mark and
  // answers with a redirect to the new result URL, whose page replaces this one's results in
  // place (and the address bar follows, so a reload or a shared link shows the same list).
  // Without this, the same form posts and the browser follows the redirect itself.
  var feedbackBusy = false;

  function feedbackSay(text, isError) {
    var status = document.getElementById("feedback-status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("is-error", !!isError);
  }

  function swapResults(html, url, focusId) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.querySelector(".results-page");
    var current = document.querySelector(".results-page");
    if (!fresh || !current) return false;
    current.replaceWith(document.importNode(fresh, true));
    document.title = doc.title;
    history.pushState(null, "", url);
    var target = document.getElementById(focusId) || document.getElementById("popular-title");
    if (target) target.focus({ preventScroll: true });
    return true;
  }

  function describeMark(button) {
    var kind = (button.value || "").split(":")[0];
    var hidden = button.querySelector(".visually-hidden");
    var title = hidden ? hidden.textContent.replace(/^[:\s]+/, "").split(",")[0] : "the movie";
    var select = kind === "rated" ? document.getElementById("stars-" + button.value.split(":")[1]) : null;
    return {
      loved: "You loved " + title + ".", not_for_me: title + " is not for you.",
      not_interested: title + " is left out.", more: "More like " + title + ".",
      rated: "You rated " + title + " " + (select ? select.value : "") + " of 5.",
      undo: "Your mark on " + title + " is taken back."
    }[kind] || "Saved.";
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || form.id !== "feedback" || !window.fetch || !window.FormData) return;
    var by = event.submitter;
    if (!by || by.name !== "mark") return;
    event.preventDefault();
    if (feedbackBusy) return;
    var kind = by.value.split(":")[0];
    if (kind === "rated") {
      var select = document.getElementById("stars-" + by.value.split(":")[1]);
      if (select && !select.value) { feedbackSay("Choose how many stars first.", true); select.focus(); return; }
    }
    var data = new URLSearchParams(new FormData(form));
    document.querySelectorAll('select[form="feedback"]').forEach(function (s) { data.set(s.name, s.value); });
    data.append("mark", by.value);
    var done = describeMark(by);
    var section = by.closest(".rec-section");
    var focusId = kind === "undo" ? "marks-title" : (section && section.id === "less-known" ? "less-known-title" : "popular-title");
    feedbackBusy = true;
    var page = document.querySelector(".results-page");
    if (page) page.classList.add("is-busy");
    feedbackSay("Saving…");
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                         headers: { Accept: "text/html" } })
      .then(function (r) { return r.text().then(function (html) { return { r: r, html: html }; }); })
      .then(function (got) {
        if (got.r.ok && got.r.redirected && swapResults(got.html, got.r.url, focusId)) {
          feedbackSay(done + " Your list is updated.");
        } else {
          var doc = new DOMParser().parseFromString(got.html, "text/html");
          var message = doc.querySelector(".error-page h1 + p");
          feedbackSay(message ? message.textContent : "That did not work (" + got.r.status + "). Please try again.", true);
        }
      })
      .catch(function () { feedbackSay("Could not reach the site: nothing was saved. Please try again.", true); })
      .then(function () {
        feedbackBusy = false;
        var now = document.querySelector(".results-page");
        if (now) now.classList.remove("is-busy");
      });
  });

  // Back and forward between marked states: load that state's page.
  window.addEventListener("popstate", function () {
    if (document.querySelector(".results-page")) location.reload();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("img.poster-photo").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0) useFallback(img);
    });
    var form = document.getElementById("picker");
    if (form) initPicker(form);
  });
})();
