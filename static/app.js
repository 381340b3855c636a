// FlagPal Dash: the behaviour htmx does not give by itself, and nothing more.
// - The dialog opens when htmx loads content into it, closes from its Close/Cancel
//   buttons or when the server says so (the close-dialog event), and gives focus back.
// - An error answer is swapped only where the server put it (HX-Retarget): an error
//   from anything else, like a proxy's page, is not. An error page without it still
//   has its sentence said in the flash region; without any, one fixed sentence says so.
// - A value shown once (a new token's) is selected when the dialog opens, so Ctrl+C
//   copies it; the Copy button copies it where the browser lets a page write to the
//   clipboard and stays hidden where it cannot (plain http away from localhost). Closing
//   the dialog before Copy, Ctrl+C or Done asks "Have you copied the token?" once.
// - A token's expiration: entering a custom date chooses Custom date, and choosing
//   another option sets the date aside (cleared, given back if Custom date is chosen
//   again), so what is sent is what is shown chosen.
// Everything here is an enhancement: every action also works as a plain form and link
// without JavaScript.
(function () {
  "use strict";

  // What opened the dialog, and its table row: focus goes back there on close. When
  // the opener itself was replaced (a revoked row has no Revoke button) the row takes it.
  var opener = null;
  var openerRow = null;

  function dialog() {
    return document.getElementById("dialog");
  }

  // The Clipboard API exists only in secure contexts (https, localhost).
  function canCopy() {
    return !!(navigator.clipboard && navigator.clipboard.writeText);
  }

  function showCopyButtons(root) {
    // Hidden in the HTML because without JavaScript they could do nothing; without the
    // Clipboard API they could not either, and the keyboard is the way.
    root.querySelectorAll("[data-copy-target]").forEach(function (button) {
      if (canCopy()) button.hidden = false;
      else sayCopyByKeyboard(document.getElementById(button.getAttribute("data-copy-target")));
    });
  }

  function sayCopyByKeyboard(field) {
    var row = field.closest(".copy-row") || field;
    var line = row.nextElementSibling;
    if (!line || !line.classList.contains("copy-by-keyboard")) {
      line = document.createElement("p");
      line.className = "hint copy-by-keyboard";
      line.setAttribute("role", "status");
      row.after(line);
    }
    var keys = /Mac|iPhone|iPad/.test(navigator.platform) ? "⌘C" : "Ctrl+C";
    line.textContent = "Press " + keys + " to copy.";
    field.focus();
    field.select();
  }

  // A revealed value whose dialog has not asked yet whether it was copied.
  function unasked(box) {
    var reveal = box.querySelector("[data-ask-before-close]");
    return reveal && !reveal.hasAttribute("data-asked") ? reveal : null;
  }

  function settle(box) {
    var reveal = box.querySelector("[data-ask-before-close]");
    if (!reveal) return;
    reveal.setAttribute("data-asked", "");
    var question = reveal.querySelector("[data-close-question]");
    if (question) question.hidden = true;
  }

  function say(message, category) {
    var region = document.getElementById("flash");
    if (!region) return;
    var line = document.createElement("p");
    line.className = "flash flash-" + category;
    line.textContent = message;
    region.replaceChildren(line);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialog-content" && !dialog().open) {
      opener = event.detail.elt;
      var row = opener.closest("tr");
      openerRow = row ? row.id : null;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "dialog-content") return;
    var box = dialog();
    showCopyButtons(box);
    if (!box.open) box.showModal();
    var first = box.querySelector("[autofocus]") || box.querySelector("input, button, a[href]");
    if (first) first.focus(); // a revealed value is selected as it gets focus, below
  });

  // Ctrl+C on a revealed value counts as copying it.
  document.addEventListener("copy", function (event) {
    if (event.target.closest && event.target.closest("[data-ask-before-close]")) {
      settle(dialog());
    }
  });

  // A value is selected whole whenever it gets focus, ready to copy.
  document.addEventListener("focusin", function (event) {
    if (event.target.classList && event.target.classList.contains("token-value")) {
      event.target.select();
    }
  });

  document.addEventListener("close-dialog", function () {
    dialog().close();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.isError && event.detail.xhr.getResponseHeader("HX-Retarget")) {
      // A refusal the server put where the person acted: shown, so handled, and no
      // htmx:responseError (nor htmx's console error) follows.
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // The sentence an error answer of this app's carries (error.html, _flash.html), if any.
  function errorMessage(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") !== 0) return null;
    // Parsed inert: nothing in it runs or loads.
    var answer = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var message = answer.querySelector("[data-error-message]");
    return message ? message.textContent.trim() : null;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr.getResponseHeader("HX-Retarget")) {
      say(errorMessage(xhr) || "Something went wrong. Reload the page and try again.", "error");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    say("FlagPal Dash could not be reached. Check your connection and try again.", "error");
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      settle(dialog());
      dialog().close();
      return;
    }
    var keepOpen = event.target.closest("[data-keep-open]");
    if (keepOpen) {
      keepOpen.closest("[data-close-question]").hidden = true;
      dialog().querySelector(".token-value").focus();
      return;
    }
    var copy = event.target.closest("[data-copy-target]");
    if (copy) {
      var field = document.getElementById(copy.getAttribute("data-copy-target"));
      settle(dialog());
      // The word is reserved in app.css, so the button keeps its width.
      navigator.clipboard.writeText(field.value).then(
        function () {
          copy.textContent = "Copied";
        },
        function () {
          sayCopyByKeyboard(field);
        }
      );
    }
  });

  function expirationOption(form, value) {
    return form.querySelector('input[name="expiration"][value="' + value + '"]');
  }

  function onExpirationChange(event) {
    var field = event.target;
    var form = field.form;
    if (!form || !form.querySelector("#custom_date")) return;
    var date = form.querySelector("#custom_date");
    if (field === date) {
      var custom = expirationOption(form, "custom");
      if (date.value && custom && !custom.checked) custom.checked = true;
    } else if (field.name === "expiration") {
      if (field.value === "custom") {
        if (!date.value && date.dataset.setAside) date.value = date.dataset.setAside;
      } else if (date.value) {
        date.dataset.setAside = date.value;
        date.value = "";
      }
    }
  }

  // "input" as a date is typed or picked; "change" for the radio buttons.
  document.addEventListener("input", onExpirationChange);
  document.addEventListener("change", onExpirationChange);

  document.addEventListener("DOMContentLoaded", function () {
    showCopyButtons(document);
    // Escape (the one way to close it besides its buttons): a value not yet copied is
    // asked about first, once. Browsers let a page hold Escape back only once per
    // user action, so a second Escape always closes.
    dialog().addEventListener("cancel", function (event) {
      var reveal = unasked(dialog());
      if (!reveal) return;
      var question = reveal.querySelector("[data-close-question]");
      settle(dialog());
      if (!question || !event.cancelable) return;
      event.preventDefault();
      question.hidden = false;
      question.querySelector("[data-keep-open]").focus();
    });
    dialog().addEventListener("close", function () {
      // Drop the dialog's content, a revealed token value included, from the page.
      document.getElementById("dialog-content").replaceChildren();
      var row = openerRow && document.getElementById(openerRow);
      if (opener && opener.isConnected) opener.focus();
      else if (row) row.focus();
      opener = openerRow = null;
    });
  });
})();
