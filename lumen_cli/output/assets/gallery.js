// The gallery's only script: search and toggles over the cards, videos made as they come
// into view, and copy buttons. Plain JavaScript, no network: the page works offline.
(function () {
  "use strict";
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var empty = document.getElementById("empty");
  var hidden = { status: {}, model: {} };
  // What the search looks in, lower-cased once: the prompt, the id and the model.
  var haystacks = cards.map(function (card) {
    var prompt = card.querySelector(".prompt");
    return [prompt ? prompt.textContent : "", card.dataset.id, card.dataset.model]
      .join("\n").toLowerCase();
  });

  function apply() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    cards.forEach(function (card, index) {
      var visible = !hidden.status[card.dataset.status] && !hidden.model[card.dataset.model] &&
        words.every(function (word) { return haystacks[index].indexOf(word) !== -1; });
      card.hidden = !visible;
      if (visible) count += 1;
    });
    shown.textContent = count + " of " + cards.length + " shown";
    empty.hidden = count !== 0;
  }

  search.addEventListener("input", apply);
  Array.prototype.forEach.call(document.querySelectorAll(".toggle"), function (button) {
    button.addEventListener("click", function () {
      var on = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", on ? "true" : "false");
      hidden[button.dataset.kind][button.dataset.value] = !on;
      apply();
    });
  });

  // A <video> is made only when its card comes near the view, so a page of 1,000 jobs
  // opens at once; until then (or without JavaScript) the card holds a link to the file.
  function makeVideo(link) {
    var video = document.createElement("video");
    video.controls = true;
    video.preload = "metadata";
    video.className = "video";
    video.src = link.getAttribute("href");
    link.replaceWith(video);
  }
  var links = Array.prototype.slice.call(document.querySelectorAll("a.video"));
  if ("IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          makeVideo(entry.target);
        }
      });
    }, { rootMargin: "800px 0px" });
    links.forEach(function (link) { observer.observe(link); });
  } else {
    links.forEach(makeVideo);
  }

  // Copy buttons: the clipboard API where the browser allows it, else a selection.
  function copied(button) {
    button.textContent = "copied";
    setTimeout(function () { button.textContent = "copy"; }, 1200);
  }
  function copyBySelection(button) {
    var field = document.createElement("textarea");
    field.value = button.dataset.copy;
    field.setAttribute("readonly", "");
    field.className = "offscreen";
    document.body.appendChild(field);
    field.select();
    try {
      if (document.execCommand("copy")) copied(button);
    } catch (ignored) {
      // nothing to copy with: the id stays selectable on the card
    }
    field.remove();
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".copy") : null;
    if (!button) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(button.dataset.copy).then(
        function () { copied(button); },
        function () { copyBySelection(button); }
      );
    } else {
      copyBySelection(button);
    }
  });

  apply();
})();
